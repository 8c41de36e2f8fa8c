"""The built-in presets.

``higgs_audio``: boson_multimodal's HiggsAudioModel under PEFT and Trainer. Its forward has no
``labels`` parameter and no ``**kwargs``. PEFT's CAUSAL_LM wrapper always passes ``labels=``
(``None`` when the batch has none), and a Trainer-style batch may carry a real ``labels``
tensor: the tensor belongs in ``label_ids``, the ``None`` nowhere. Other stray keywords are
dropped; one that carries a value warns, since the user likely meant it for the model.

``higgs_audio_v2``: transformers 5's native port, HiggsAudioV2ForConditionalGeneration. Its typed
``**kwargs`` accept any keyword and use only the ones they declare, so a misspelt
``audio_label=`` (or boson's ``label_audio_ids=``) trains without an audio loss, silently: such
a keyword is refused, naming the closest real parameter. What PEFT passes is all declared (or
consumed by the forward's ``@can_return_tuple``: ``return_dict``), so it passes. ``labels`` on a
model built without a text head is ignored by the model: reported.

``peft_headless``: a headless model (``LlamaModel``, ``OPTModel``, ``RobertaModel`` ...) under a
PEFT task wrapper (CAUSAL_LM, SEQ_CLS, TOKEN_CLS), which passes ``labels`` the model cannot use:
it is dropped at the model the PEFT tuner wraps, whatever its class.

``renames``: a keyword that a library renamed across releases reaches a forward that takes it
under its other name (transformers 5.24's ``generate()`` passes ``cache=`` to a custom forward
written for ``past_key_values``; TRL passes ``logits_to_keep=`` to a forward that takes
``num_logits_to_keep``): the value moves to the name the forward takes.
"""

from .._holders import PEFT_BASE_MODEL
from . import Preset, register_preset

HIGGS_AUDIO = register_preset(
    Preset(
        name="higgs_audio",
        description="boson_multimodal HiggsAudioModel: labels -> label_ids, None labels dropped, strays warned",
        remap={"labels": "label_ids"},
        on_unknown="warn",
        target="boson_multimodal.model.higgs_audio.modeling_higgs_audio.HiggsAudioModel",
        requires="boson_multimodal",
        alternatives=["higgs_audio_v2"],
        install_hint=(
            "Install it without its pinned extras, beside transformers 4.46: pip install 'transformers==4.46.3' "
            "'peft==0.14.0' accelerate librosa dacite loguru pandas && pip install --no-deps boson-multimodal==0.1.1"
        ),
    )
)

HIGGS_AUDIO_V2 = register_preset(
    Preset(
        name="higgs_audio_v2",
        description="transformers' HiggsAudioV2ForConditionalGeneration: misspelt keywords refused, labels without a text head reported",
        on_unknown="raise",
        ignored_without={"labels": "text_lm_head"},
        target="transformers.models.higgs_audio_v2.modeling_higgs_audio_v2.HiggsAudioV2ForConditionalGeneration",
        requires="transformers.models.higgs_audio_v2",
        alternatives=["higgs_audio"],
        install_hint="It is in transformers 5: pip install 'transformers>=5.23'.",
    )
)

PEFT_HEADLESS = register_preset(
    Preset(
        name="peft_headless",
        description="the model inside a PEFT task wrapper: labels dropped, other strays warned about",
        drop=["labels"],
        target=PEFT_BASE_MODEL,
    )
)

RENAMES = register_preset(
    Preset(
        name="renames",
        description="keywords a library renamed (cache / past_key_values, logits_to_keep ...) moved to the name each forward takes",
        renames=True,
    )
)
