"""The recipe's loss: shifted, -100 ignored, safe with no targets, and able to overfit one batch."""

from types import SimpleNamespace

import torch

from tests.helpers import HAS_BOSON, needs_boson

pytestmark = needs_boson
if HAS_BOSON:
    from kwarg_guard.recipes.higgs_audio.legacy.loss import higgs_audio_loss
    from tests.helpers.higgs_audio import lora_model


def peaked(targets, vocab, scale=30.0):
    """Logits that put all mass on ``targets`` at the same position (an identity predictor)."""
    logits = torch.full((*targets.shape, vocab), -scale)
    logits.scatter_(-1, targets.clamp(min=0).unsqueeze(-1), scale)
    return logits


class TestShift:
    def test_an_identity_predictor_scores_zero_unshifted_but_high_shifted(self):
        text = torch.tensor([[5, 6, 7, 8, 9]])
        audio = torch.tensor([[-100, 1, 2, 3, 4], [-100, -100, 2, 3, 4]])  # delay pattern: leading -100
        outputs = SimpleNamespace(
            logits=peaked(text, 16), expanded_labels=text, audio_logits=peaked(audio.T, 8).clone()
        )
        unshifted_text = torch.nn.functional.cross_entropy(outputs.logits[0], text[0])
        assert unshifted_text < 1e-6  # the trap: predicting your own input looks perfect
        parts = higgs_audio_loss(outputs, audio)
        assert parts.text > 10 and parts.audio > 10
        assert parts.text_targets == 4 and parts.audio_targets == 4 + 3

    def test_a_next_token_predictor_scores_zero(self):
        text = torch.tensor([[5, 6, 7, 8, 9]])
        audio = torch.tensor([[-100, 1, 2, 3, 4]])
        next_text = torch.roll(text, -1, dims=1)
        next_audio = torch.roll(audio, -1, dims=1)
        outputs = SimpleNamespace(
            logits=peaked(next_text, 16), expanded_labels=text, audio_logits=peaked(next_audio.T, 8)
        )
        parts = higgs_audio_loss(outputs, audio)
        assert parts.text < 1e-6 and parts.audio < 1e-6

    def test_no_targets_gives_zero_not_nan_and_keeps_the_graph(self):
        logits = torch.randn(1, 4, 16, requires_grad=True)
        outputs = SimpleNamespace(
            logits=logits,
            expanded_labels=torch.full((1, 4), -100),
            audio_logits=torch.randn(3, 2, 8, requires_grad=True),
        )
        parts = higgs_audio_loss(outputs, torch.full((2, 3), -100))
        assert parts.total.item() == 0.0 and not torch.isnan(parts.total)
        parts.total.backward()
        assert logits.grad is not None and torch.count_nonzero(logits.grad) == 0


class TestOnTheModel:
    def test_one_batch_overfits_far_below_its_start(self, higgs):
        from kwarg_guard import guard
        from kwarg_guard.recipes.higgs_audio.tiny import tiny_model

        *_, batch = higgs
        model = guard(tiny_model(0), preset="higgs_audio")
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
        losses = []
        for _ in range(120):
            parts = higgs_audio_loss(model(**batch), batch["label_audio_ids"])
            optimizer.zero_grad()
            parts.total.backward()
            optimizer.step()
            losses.append(parts.total.item())
        assert losses[-1] < 0.02 * losses[0]

    def test_only_lora_parameters_receive_gradients(self, higgs):
        *_, batch = higgs
        model = lora_model()
        higgs_audio_loss(model(**batch), batch["label_audio_ids"]).total.backward()
        with_grad = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
        assert with_grad and all("lora_" in n for n in with_grad)
        assert all(p.grad is None for n, p in model.named_parameters() if "lora_" not in n)

    def test_llm_checkpointing_keeps_loss_and_every_gradient(self, higgs):
        from kwarg_guard.recipes.higgs_audio.legacy.checkpointing import checkpoint_llm_layers, is_checkpointed

        *_, batch = higgs
        results = []
        for checkpointed in (False, True):
            model = lora_model()
            if checkpointed:
                assert checkpoint_llm_layers(model.get_base_model()) == 2
                assert is_checkpointed(model.get_base_model())
            loss = higgs_audio_loss(model(**batch), batch["label_audio_ids"]).total
            loss.backward()
            grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
            results.append((loss.detach(), grads))
        (loss_a, grads_a), (loss_b, grads_b) = results
        assert torch.equal(loss_a, loss_b)
        assert grads_a.keys() == grads_b.keys() and len(grads_a) > 0
        assert all(torch.allclose(grads_a[n], grads_b[n], atol=1e-7) for n in grads_a)
