"""Names spelt alike: the "did you mean" candidates every message and explain's fix draw on."""

from kwarg_guard._spelling import close_matches


def test_a_typo_finds_the_name_it_misspells():
    assert close_matches("lables", ["labels", "use_cache", "input_ids"]) == ["labels"]


def test_the_same_words_in_another_order_are_a_match():
    assert close_matches("label_audio_ids", ["audio_labels", "input_ids"]) == ["audio_labels"]


def test_only_names_about_as_close_as_the_closest_are_offered():
    # shift_labels shares a word with audio_label, but audio_labels is much closer.
    assert close_matches("audio_label", ["audio_labels", "shift_labels", "use_cache"]) == ["audio_labels"]


def test_a_name_near_nothing_gets_no_suggestion():
    assert close_matches("labels", ["use_cache", "input_ids"]) == []
    assert close_matches("labels", []) == []


def test_ties_are_ordered_by_name_and_cut_at_the_limit():
    assert close_matches("abcd", ["abch", "abcg", "abcf", "abce"]) == ["abce", "abcf", "abcg"]
    assert close_matches("abcd", ["abch", "abcg"], limit=1) == ["abcg"]
