"""The built-in presets.

``higgs_audio``: boson_multimodal's HiggsAudioModel under PEFT and Trainer. Its forward has no
``labels`` parameter and no ``**kwargs``. PEFT's CAUSAL_LM wrapper always passes ``labels=``
(``None`` when the batch has none), and a Trainer-style batch may carry a real ``labels``
tensor: the tensor belongs in ``label_ids``, the ``None`` nowhere. Other stray keywords are
dropped; one that carries a value warns, since the user likely meant it for the model.

``peft_headless``: a headless model (``LlamaModel``, ``OPTModel``, ``RobertaModel`` ...) under a
PEFT task wrapper (CAUSAL_LM, SEQ_CLS, TOKEN_CLS), which passes ``labels`` the model cannot use:
it is dropped at the model the PEFT tuner wraps, whatever its class.
"""

from .._targets import PEFT_BASE_MODEL
from . import Preset, register_preset

HIGGS_AUDIO = register_preset(
    Preset(
        name="higgs_audio",
        description="boson_multimodal HiggsAudioModel: labels -> label_ids, None labels dropped, strays warned",
        remap={"labels": "label_ids"},
        on_unknown="warn",
        target="boson_multimodal.model.higgs_audio.modeling_higgs_audio.HiggsAudioModel",
        requires="boson_multimodal",
        install_hint=(
            "Install it without its pinned extras: pip install --no-deps boson-multimodal==0.1.1 "
            "librosa dacite loguru pandas 'transformers==4.46.3' (or: pip install 'kwarg_guard[higgs]' "
            "then pip install --no-deps boson-multimodal==0.1.1)."
        ),
    )
)

PEFT_HEADLESS = register_preset(
    Preset(
        name="peft_headless",
        description="the model inside a PEFT task wrapper: labels dropped, strays dropped",
        drop=["labels"],
        target=PEFT_BASE_MODEL,
    )
)
