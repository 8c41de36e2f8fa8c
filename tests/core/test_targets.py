"""Which modules a guard lands on: with no target, where the keyword fails (past the containers that
only hand a call on); with target=, the module inside PEFT, DDP, DataParallel, torch.compile and
accelerate hooks."""

import copy

import pytest
import torch
import torch.distributed as dist
from accelerate.hooks import ModelHook, add_hook_to_module, remove_hook_from_module

from kwarg_guard import UnexpectedKeywordError, guard, patched, report, unguard
from kwarg_guard._patching import layers_of
from tests.helpers import TRANSFORMERS_MAJOR, Forwarder, Headless, Labeled, Outer, peft_causal_lm, plain_attributes
from tests.helpers.tiny_configs import tiny_llama_config


@pytest.fixture
def process_group(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


class CountingHook(ModelHook):
    def __init__(self):
        self.calls = 0

    def pre_forward(self, module, *args, **kwargs):
        self.calls += 1
        return args, kwargs


class TestContainers:
    def test_distributed_data_parallel(self, labeled, x, process_group):
        ddp = torch.nn.parallel.DistributedDataParallel(labeled)
        with patched(ddp, remap={"labels": "label_ids"}):  # "the module itself" is what DDP holds
            assert ddp(x, labels=2)[1] == 2
        with patched(ddp, target=Labeled, drop=["junk"]):
            ddp(x, junk=1)
        assert "forward" not in vars(labeled) and "forward" not in vars(ddp)

    def test_data_parallel(self, labeled, x):
        parallel = torch.nn.DataParallel(labeled)
        with patched(parallel, remap={"labels": "label_ids"}):
            assert parallel(x, labels=2)[1] == 2

    def test_torch_compile_optimized_module(self, labeled, x):
        compiled = torch.compile(labeled, backend="eager")
        with patched(compiled, remap={"labels": "label_ids"}):
            assert compiled(x, labels=2)[1] == 2
        assert "forward" not in vars(labeled)
        guard(compiled, target=Labeled, drop=["junk"])
        assert torch.equal(compiled(x, junk=1), labeled.linear(x))


class TestAccelerateHooks:
    def test_guard_inside_an_existing_hook_keeps_the_hook_running(self, labeled, x):
        hook = CountingHook()
        add_hook_to_module(labeled, hook)
        before = plain_attributes(labeled)
        with patched(labeled, remap={"labels": "label_ids"}):
            assert labeled(x, labels=3)[1] == 3
            assert labeled.forward(x, labels=4)[1] == 4
        assert hook.calls == 2
        assert plain_attributes(labeled) == before
        remove_hook_from_module(labeled)
        with pytest.raises(TypeError, match="labels"):
            labeled(x, labels=1)

    def test_hook_added_after_the_guard_and_removed_again(self, labeled, x):
        guard(labeled, remap={"labels": "label_ids"})
        hook = CountingHook()
        add_hook_to_module(labeled, hook)
        assert labeled(x, labels=5)[1] == 5 and hook.calls == 1
        remove_hook_from_module(labeled)
        assert labeled(x, labels=6)[1] == 6
        unguard(labeled)
        assert "forward" not in vars(labeled)

    def test_unguard_reaches_a_guard_under_a_hook(self, labeled, x):
        guard(labeled, drop=["junk"])
        add_hook_to_module(labeled, CountingHook())
        unguard(labeled)
        with pytest.raises(TypeError, match="junk"):
            labeled(x, junk=1)

    def test_deepcopy_of_a_hooked_guarded_module_calls_the_copy(self, labeled, x):
        add_hook_to_module(labeled, CountingHook())
        guard(labeled, remap={"labels": "label_ids"})
        twin = copy.deepcopy(labeled)
        with torch.no_grad():
            twin.linear.weight.zero_()
            twin.linear.bias.zero_()
        assert twin(x, labels=1)[0].abs().sum() == 0
        assert labeled(x, labels=1)[0].abs().sum() > 0


class TestPeft:
    def test_lora_on_a_custom_module_reaches_the_guard_through_the_tuner(self, labeled, x):
        # peft 0.14's tuner calls self.model.forward(...) directly (no forward pre-hook would run);
        # peft 0.21 calls self.model(...). Both stacks run this.
        from peft import LoraConfig, get_peft_model

        peft_model = get_peft_model(labeled, LoraConfig(target_modules=["linear"], r=2))
        with patched(peft_model, target=Labeled, remap={"labels": "label_ids"}):
            assert peft_model(x, labels=3)[1] == 3
        with pytest.raises(TypeError, match="labels"):
            peft_model(x, labels=3)

    @pytest.fixture
    def headless_llama(self):
        from transformers import LlamaModel

        torch.manual_seed(0)
        config = tiny_llama_config(pad_token_id=None)
        return LlamaModel(config)

    @pytest.mark.skipif(
        TRANSFORMERS_MAJOR >= 5,
        reason="peft 0.21 refuses a headless model under CAUSAL_LM (no prepare_inputs_for_generation); "
        "the transformers 5 compatibility matrix covers PEFT injection there",
    )
    def test_target_finds_the_base_model_and_raise_names_peft(self, headless_llama):
        from peft import LoraConfig, get_peft_model
        from transformers import LlamaModel

        peft_model = get_peft_model(headless_llama, LoraConfig(task_type="CAUSAL_LM", target_modules=["q_proj"], r=2))
        ids = torch.randint(0, 64, (1, 5))
        with patched(peft_model, target=LlamaModel, on_unknown="raise"):
            with pytest.raises(UnexpectedKeywordError, match=r"peft/peft_model\.py:\d+ PeftModelForCausalLM\.forward"):
                peft_model(input_ids=ids)
        with patched(peft_model, target=LlamaModel, drop=["labels"]):
            out = peft_model(input_ids=ids)
        assert torch.equal(out.last_hidden_state, headless_llama(input_ids=ids).last_hidden_state)


class TestBareGuardLandsWhereTheKeywordFails:
    @pytest.fixture
    def peft_model(self):
        torch.manual_seed(0)
        return peft_causal_lm(Headless())

    def test_unguarded_peft_causal_lm_fails_on_labels(self, peft_model):
        with pytest.raises(TypeError, match=r"^Headless\.forward\(\) got an unexpected keyword argument 'labels'$"):
            peft_model(input_ids=torch.randint(0, 16, (2, 3)))

    @pytest.mark.parametrize("door", ["guard", "patched"])
    def test_a_bare_door_on_the_peft_model_fixes_it(self, peft_model, door):
        ids = torch.randint(0, 16, (2, 3))
        base = peft_model.get_base_model()
        if door == "guard":
            guard(peft_model)
            out = peft_model(input_ids=ids)
            assert len(layers_of(base)) == 1
        else:
            with patched(peft_model):
                out = peft_model(input_ids=ids)
                assert len(layers_of(base)) == 1
        assert torch.equal(out, base(input_ids=ids))
        assert report(peft_model).find("labels", "dropped").forward == "Headless.forward"
        assert not any(layers_of(m) for m in peft_model.modules() if m is not base)

    def test_a_bare_remap_on_the_peft_model_moves_real_labels(self, peft_model):
        ids = torch.randint(0, 16, (2, 3))
        guard(peft_model, remap={"labels": "label_ids"})
        assert torch.equal(peft_model(input_ids=ids, labels=ids)[1], ids)
        unguard(peft_model)
        assert "forward" not in vars(peft_model.get_base_model())

    def test_a_bare_guard_on_a_pure_pass_through_is_refused_with_the_target_to_pass(self, labeled):
        wrapper = Forwarder(labeled)
        before = vars(labeled).copy()
        with pytest.raises(ValueError, match=r"guard\(Forwarder\) would change nothing.*target='Labeled'"):
            guard(wrapper)
        with pytest.raises(ValueError, match=r"patched\(Forwarder\) would change nothing.*target='Labeled'"):
            patched(wrapper).__enter__()
        assert vars(labeled) == before and "forward" not in vars(wrapper)

    def test_a_forward_with_named_parameters_beside_its_kwargs_is_guarded_not_refused(self, labeled):
        # A causal LM's forward(input_ids, ..., **loss_kwargs) is a model, not a pass-through.
        wrapper = Outer(labeled)
        with patched(wrapper):
            assert "forward" in vars(wrapper) and "forward" not in vars(labeled)
        guard(wrapper, on_unknown="raise")
        assert "forward" in vars(wrapper) and "forward" not in vars(labeled)

    def test_a_remap_or_drop_on_a_wrapper_is_not_refused(self, labeled, x):
        wrapper = guard(Forwarder(labeled), drop=["junk"])
        assert torch.equal(wrapper(x, junk=1), labeled.linear(x))
