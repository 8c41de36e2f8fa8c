"""The record of what a guard did: report() per forward, keyword and action."""

import pytest
import torch

from kwarg_guard import patched, report


class TestReport:
    def test_records_keyword_action_count_value_kind_and_origin(self, labeled, x):
        with patched(labeled, remap={"labels": "label_ids"}):
            for _ in range(3):
                labeled(x, labels=torch.ones(1, dtype=torch.long), junk="text")
            labeled(x, labels=None)
        records = report(labeled)
        remapped = records.find("labels", "remapped")
        assert (remapped.count, remapped.target, remapped.value_kinds) == (3, "label_ids", ("Tensor(int64)",))
        assert records.find("labels", "dropped (None)").count == 1
        junk = records.find("junk", "dropped")
        assert (junk.count, junk.value_kinds) == (3, ("str",))
        assert all("test_keyword_log.py" in str(r.origins[0]) for r in records)
        table = str(records)
        assert "labels" in table and "remapped -> label_ids" in table and "Labeled.forward" in table

    def test_an_unguarded_model_reports_nothing(self, labeled):
        assert list(report(labeled)) == []
        assert "no keyword" in str(report(labeled))

    def test_report_refuses_what_it_cannot_read(self):
        with pytest.raises(TypeError, match="report takes"):
            report(42)
