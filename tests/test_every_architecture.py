"""The lens on every causal-LM architecture transformers ships (``MODEL_FOR_CAUSAL_LM_MAPPING_NAMES``).

Each architecture is built from its own config class, shrunk to a seeded tiny random model (2+
layers, width 64, vocabulary 128; see :func:`tiny_config`), and checked twice:

* ``lens``: :meth:`LensModel.from_hf` finds the parts and its check passes (the lens at the last
  layer gives the model's own logits);
* ``padding``: a prompt's residuals at every layer and real position are the same alone and
  left-padded in a batch with a longer prompt.

What is not run says why, listed by ``pytest -rsx``: ``skip`` for what transformers itself cannot
build or run (each such claim is checked: the failure must still happen), ``xfail`` (strict, and
only with a :class:`LatentLangError`: refused, never read wrongly) for models latentlang does not
support yet.
"""

import importlib.util
from functools import lru_cache

import pytest
import torch
import transformers
from transformers import AutoModelForCausalLM, PretrainedConfig
from transformers.models.auto.configuration_auto import CONFIG_MAPPING
from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

from latentlang import LatentLangError, LensModel
from latentlang.core.backends import NNsightCapture
from latentlang.core.batch import left_pad
from latentlang.core.reading import Reading

VOCAB, WIDTH, DEPTH, MAX_DEPTH = 128, 64, 2, 8
#: Config fields shrunk to a size (never grown); ``None`` values are set too (fields a default
#: config leaves unset although its model needs them).
SIZES = {
    WIDTH: "hidden_size n_embd d_model dim n_embed emb_dim embedding_dim hidden_size_global lru_width "
    "embed_dim word_embed_proj_dim intermediate_size n_inner ffn_dim decoder_ffn_dim encoder_ffn_dim "
    "d_ff d_inner ffn_hidden_size intermediate_size_mlp dim_ff dff mlp_dim feed_forward_size",
    32: "moe_intermediate_size shared_expert_intermediate_size shared_intermediate_size "
    "moe_shared_expert_intermediate_size shared_experts_intermediate_size expert_ffn_hidden_size",
    16: "head_dim swa_head_dim v_head_dim qk_nope_head_dim qk_rope_head_dim index_head_dim "
    "linear_key_head_dim linear_value_head_dim linear_head_dim attention_head_dim dim_head d_kv "
    "kv_channels d_head attention_head_size q_lora_rank kv_lora_rank o_lora_rank hc_lowrank "
    "mamba_d_state state_size ssm_state_size mamba_d_head mamba_head_dim mamba_headdim",
    8: "rotary_dim mamba_dt_rank time_step_rank",
    4: "num_attention_heads n_head num_heads n_heads attention_heads decoder_attention_heads "
    "encoder_attention_heads swa_num_attention_heads index_n_heads linear_num_heads "
    "linear_num_value_heads num_experts num_local_experts n_routed_experts moe_num_experts",
    2: "num_experts_per_tok num_experts_per_token moe_topk moe_top_k moe_k",
    1: "n_group topk_group num_expert_group",
}
SIZE = {name: size for size, names in SIZES.items() for name in names.split()}
DEPTHS = set("num_hidden_layers n_layer num_layers n_layers decoder_layers encoder_layers num_blocks".split())
#: Fields that hold a model's width (to shrink fields tied to it).
WIDTHS = ("hidden_size", "n_embd", "d_model", "dim", "n_embed", "emb_dim", "embedding_dim")
#: Key/value heads keep the model's ratio to its query heads (multi-head latent attention needs 1:1).
KV_HEADS = {
    "num_key_value_heads": "num_attention_heads",
    "num_kv_heads": "num_attention_heads",
    "kv_n_heads": "n_heads",
    "swa_num_key_value_heads": "swa_num_attention_heads",
    "linear_num_key_heads": "linear_num_value_heads",
    "num_query_groups": "num_attention_heads",
}
#: Mamba heads: n_heads * head_dim must equal expand * hidden_size.
MAMBA = [
    ("n_mamba_heads", "mamba_headdim", "mamba_expand"),
    ("mamba_n_heads", "mamba_d_head", "mamba_expand"),
    ("mamba_num_heads", "mamba_head_dim", "expand"),
]
#: What generic shrinking cannot know: fields transformers' default config leaves unset although
#: its model reads them, invariants between fields, and layer patterns whose first layers are all
#: of one kind (a hybrid needs one attention layer).
OVERRIDES = {
    "bamba": {"attn_layer_indices": [1]},
    "cohere_compass_text": {
        "rope_parameters": {"full_attention": {"rope_type": "default", "rope_theta": 1e4}}
    },
    "dbrx": {"attn_config": {"kv_n_heads": 2, "rope_theta": 1e4, "clip_qkv": 8.0}},
    "dory": {
        "num_hidden_layers": 3,
        "n_input_layers": 1,
        "n_recurrent_layers": 1,
        "n_output_layers": 1,
        "layer_types": ["sliding_attention", "full_attention", "sliding_attention"],
    },
    "dots1": {"n_shared_experts": 1},
    "gemma3n_text": {"num_kv_shared_layers": 0},
    "gemma4_assistant": {"text_config": {"hidden_size_per_layer_input": 0, "vocab_size_per_layer_input": 0}},
    "granitemoehybrid": {"layer_types": ["linear_attention", "full_attention"]},
    "inkling2_text": {"unpadded_vocab_size": 120},  # a padded vocabulary: the model keeps 120 logits
    "inkling2_loop_text": {"unpadded_vocab_size": 120},
    "jamba": {"num_hidden_layers": 4, "attn_layer_period": 2, "attn_layer_offset": 1},
    "lfm2_moe": {"layer_types": ["conv", "full_attention"]},
    "mamba2": {"num_heads": 8, "head_dim": 16, "n_groups": 1},
    "qwen4_exp": {
        "text_config": {
            "indexer_n_heads": 2,
            "indexer_kv_heads": 1,
            "indexer_head_dim": 16,
            "indexer_budget": 8,
            "indexer_compress_ratio": 4,
        }
    },
    "qwen4_exp_text": {
        "indexer_n_heads": 2,
        "indexer_kv_heads": 1,
        "indexer_head_dim": 16,
        "indexer_budget": 8,
        "indexer_compress_ratio": 4,
    },
    "reformer": {"is_decoder": True, "axial_pos_embds_dim": [16, 48]},
    "xlm": {"causal": True},  # XLM's causal-LM checkpoints; the default is a masked LM
    "xlnet": {"attn_type": "uni"},  # causal attention; the default is bidirectional
    "zamba": {
        "num_hidden_layers": 5,
        "layers_block_type": None,
        "attn_layer_period": 2,
        "attn_layer_offset": 0,
        "attention_head_dim": 32,
    },  # zamba's attention reads [hidden, embedding]: twice as wide
    "zamba2": {
        "attention_head_dim": 32,
        "num_hidden_layers": 3,
        "layers_block_type": ["linear_attention", "hybrid", "hybrid"],
    },
    "zaya": {"num_experts_per_tok": 1},  # the only value ZAYA supports
}

#: Architectures transformers itself cannot build from their config or run on token ids alone.
_DRAFTER = "a speculative-decoding drafter: its forward needs the target model's shared_kv_states"
NOT_RUNNABLE = {
    "gemma3n": "its vision tower is a TimmWrapperModel, which needs the timm package (not installed)",
    "gemma4_assistant": _DRAFTER,
    "gemma4_unified_assistant": _DRAFTER,
    "musicgen": "AutoModelForCausalLM cannot build it from MusicgenConfig (MusicgenForCausalLM takes the "
    "decoder's config, whose model predicts num_codebooks audio-code streams with one head each)",
    "musicgen_melody": "AutoModelForCausalLM cannot build it from MusicgenMelodyConfig (the decoder takes "
    "its own config and predicts num_codebooks audio-code streams with one head each)",
}
#: Architectures whose transformers implementation sees left padding itself: their own logits change
#: (checked, see test) when a prompt is left-padded with an attention mask and position ids.
PADDING_VISIBLE = {
    "blt": "its patcher and hash n-gram embeddings run over the pad bytes",
    "deepseek_v4": "it compresses keys and values over fixed blocks of columns, pad tokens included",
    "recurrent_gemma": "its recurrent (RG-LRU and conv) layers read the pad tokens",
    "rwkv": "its forward does not use attention_mask ('currently unused')",
    "xlstm": "its forward takes no attention_mask",
    "xlm": "with causal=True its attention mask is the causal one alone (get_masks drops the padding "
    "mask), so the prompt's tokens attend to the pad positions",
}
#: Architectures whose transformers implementation fails on a left-padded batch (checked, see test).
PADDING_FAILS = {
    "xlnet": "with causal attention (attn_type='uni') its forward adds the padding mask in place to a "
    "causal mask made for one prompt (attn_mask += data_mask), which fails for a batch of several",
}
#: Architectures latentlang refuses (a LatentLangError at load), and why.
UNSUPPORTED = {
    "inkling2_text": "attention residuals: each sub-layer, and the unembedding, reads a softmax attention "
    "over the outputs of all earlier block boundaries, not one residual stream",
    "inkling2_loop_text": "attention residuals: each sub-layer, and the unembedding, reads a softmax "
    "attention over the outputs of all earlier block boundaries, not one residual stream",
    "prophetnet": "not a next-token decoder's stream: its logits come from the first of its n-gram "
    "predicting streams, which its blocks carry after the main stream along the sequence axis",
}


def tiny_config(model_type: str) -> PretrainedConfig:
    """``model_type``'s config shrunk to a tiny model (generic rules, then :data:`OVERRIDES`)."""
    cls = CONFIG_MAPPING[model_type]
    try:
        default = cls()
    except ValueError:  # a default config that breaks its own validation: start from the overrides
        default = cls(**OVERRIDES[model_type])
    return cls(**_merge(_shrink(default), OVERRIDES.get(model_type, {})))


def _shrink(config: PretrainedConfig, widths: frozenset = frozenset()) -> dict:
    flat = config.to_dict()
    subs = {k: v for k in flat if isinstance(v := _attr(config, k), PretrainedConfig)}
    text = [subs[k].to_dict() for k in ("text_config", "decoder") if k in subs]
    widths = widths | {v for d in (flat, *text) for k in WIDTHS if isinstance(v := d.get(k), int)}
    old_depths = {v for k in DEPTHS if isinstance(v := flat.get(k), int) and v > 0}
    depth = _depth(flat, old_depths)
    out = {}
    for key, value in flat.items():
        is_int = isinstance(value, int) and not isinstance(value, bool)
        if key in subs:
            out[key] = _shrink(subs[key], widths)
        elif key in DEPTHS and is_int and value > 0:
            out[key] = min(value, depth)
        elif key in KV_HEADS and isinstance(heads := flat.get(KV_HEADS[key]), int):
            out[key] = SIZE[KV_HEADS[key]] if value is None else max(1, SIZE[KV_HEADS[key]] * value // heads)
        elif key in SIZE and (value is None or (is_int and value > 0)):
            out[key] = SIZE[key] if value is None else min(value, SIZE[key])
        elif key in SIZE and isinstance(value, list) and all(isinstance(v, int) for v in value):
            out[key] = [min(v, SIZE[key]) for v in value][:depth]  # per-layer sizes
        elif "vocab" in key and is_int and value > VOCAB:
            out[key] = VOCAB
        elif is_int and ("size" in key or "dim" in key) and (w := _width_of(value, widths)):
            out[key] = WIDTH * (value // w)  # tied to the model's width: a projection into it, or twice it
        elif isinstance(value, list) and len(value) in old_depths and len(value) > depth:
            out[key] = value[:depth]  # per-layer settings
        elif isinstance(value, str) and "pattern" in key and len(value) in old_depths:
            out[key] = value[:depth]
    for heads, head_dim, expand in MAMBA:
        if heads in flat and expand in flat:
            inner = int(flat[expand] * out.get("hidden_size", WIDTH))
            out[heads] = inner // out[head_dim] if head_dim in out else 2
            if "mamba_d_ssm" in flat:
                out["mamba_d_ssm"] = inner
    if "qk_head_dim" in flat and "qk_nope_head_dim" in out:
        out["qk_head_dim"] = out["qk_nope_head_dim"] + out.get("qk_rope_head_dim", 0)
    top = out.get("vocab_size", flat.get("vocab_size"))
    if isinstance(top, int):  # special tokens stay inside the smaller vocabulary, each its own id
        for key, value in flat.items():
            if key.endswith(("_token_id", "_token_index")) and isinstance(value, int) and value >= top:
                out[key] = top = top - 1
            elif key.endswith("_token_id") and isinstance(value, list):
                out[key] = [min(v, out.get("vocab_size", VOCAB) - 1) for v in value]
    return out


def _depth(flat: dict, old_depths: set[int]) -> int:
    """Enough layers for every kind of layer the config's per-layer lists name to appear once."""
    depth = DEPTH
    for value in flat.values():
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            if len(value) <= max(old_depths, default=0):
                depth = max(depth, max(value.index(v) for v in set(value)) + 1)
    return min(depth, MAX_DEPTH)


def _width_of(value: int, widths: frozenset) -> int | None:
    return next((w for w in widths if value in (w, 2 * w)), None)


def _attr(config, key):
    try:  # configs with per-layer settings refuse to read some of them globally
        return getattr(config, key, None)
    except Exception:
        return None


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = (
            _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


@lru_cache(maxsize=1)  # both checks of one architecture run one after the other
def tiny_model(model_type: str) -> torch.nn.Module:
    """A seeded tiny random ``model_type`` (float32, eval), with random norm weights as conftest's."""
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(tiny_config(model_type), dtype=torch.float32)
    with torch.no_grad():
        for param in model.parameters():
            if param.ndim == 1:
                param.add_(0.5 * torch.randn_like(param))
    if model_type == "xmod":  # X-MOD routes through a language adapter chosen before a forward pass
        model.set_default_language(model.config.languages[0])
    return model.eval()


def prompts(model: torch.nn.Module, lengths: list[int]) -> list[list[int]]:
    """Random token ids, none of them a special token (an image placeholder would need pixels)."""
    special = set()
    for config in (model.config, *(_attr(model.config, k) for k in model.config.to_dict())):
        if isinstance(config, PretrainedConfig):
            for key, value in config.to_dict().items():
                if key.endswith(("_token_id", "_token_index", "_token_ids")):
                    special |= set(value if isinstance(value, list) else [value])
    vocab = model.get_output_embeddings().weight.shape[0]
    allowed = torch.tensor([i for i in range(3, min(vocab, VOCAB)) if i not in special])
    gen = torch.Generator().manual_seed(1)
    return [allowed[torch.randint(len(allowed), (n,), generator=gen)].tolist() for n in lengths]


def _expect_not_runnable(model_type: str) -> None:
    """Check that transformers still cannot build or run ``model_type``, then skip it."""
    if model_type == "gemma3n" and importlib.util.find_spec("timm") is not None:
        return
    with pytest.raises(Exception):  # noqa: B017 (whatever transformers raises)
        model = tiny_model(model_type)
        with torch.no_grad():
            model(input_ids=torch.tensor([[5, 6, 7]]), use_cache=False)
    pytest.skip(f"transformers cannot run {model_type}: {NOT_RUNNABLE[model_type]}")


def _padding_change(model: torch.nn.Module, short: list[int], long: list[int]) -> float:
    """How much the model's own logits at a prompt's positions change when it is left-padded."""
    batch = left_pad([long, short], 0)
    with torch.no_grad():
        alone = model(input_ids=torch.tensor([short]), use_cache=False).logits[0]
        padded = model(**batch._asdict(), use_cache=False).logits[1, -len(short) :]
    return float((padded - alone).abs().max() / alone.abs().max())


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run fastest on one thread (and much faster than on two contended ones)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


CASES = [
    pytest.param(
        model_type,
        check,
        marks=pytest.mark.xfail(strict=True, raises=LatentLangError, reason=UNSUPPORTED[model_type])
        if model_type in UNSUPPORTED and not (check == "padding" and model_type in PADDING_VISIBLE)
        else (),
    )
    for model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    for check in ("lens", "padding")
]


@pytest.mark.parametrize(("model_type", "check"), CASES)
def test_every_architecture(model_type, check):
    transformers.logging.set_verbosity_error()
    if model_type in NOT_RUNNABLE:
        _expect_not_runnable(model_type)
    model = tiny_model(model_type)
    short, long = prompts(model, [5, 9])
    if check == "padding" and model_type in PADDING_FAILS:
        with pytest.raises(RuntimeError):  # transformers' own forward on a padded batch
            _padding_change(model, short, long)
        pytest.skip(
            f"transformers cannot run {model_type} on a left-padded batch: {PADDING_FAILS[model_type]}"
        )
    if check == "padding" and model_type in PADDING_VISIBLE:
        change = _padding_change(model, short, long)
        assert change > 1e-3, f"{model_type} now hides left padding; drop it from PADDING_VISIBLE"
        pytest.skip(
            f"transformers' {model_type} sees left padding itself ({change:.0%} change in its own "
            f"logits): {PADDING_VISIBLE[model_type]}"
        )
    lm = LensModel.from_hf(model, name=model_type)  # checks the lens against the logits
    if check == "lens":
        return
    offsets = list(range(len(short)))
    batch, alone = left_pad([long, short], 0), left_pad([short], 0)
    padded = lm.capture(batch, batch.positions(offsets)).residuals[1]
    single = lm.capture(alone, alone.positions(offsets)).residuals[0]
    scale = float(single.abs().max())
    torch.testing.assert_close(padded, single, atol=1e-5 * scale, rtol=1e-4)


#: How the residual of the architectures that need it is read (see latentlang.core.reading), so that none
#: of them passes by reading something else.
READINGS = {
    "blt": {},  # its cross-attention to the patches adds to the stream between blocks
    "cpmant": {"offset": 32},  # prompt_length learned positions before the input
    "dory": {"calls": (0, 1, 1, 2)},  # its recurrent block runs n_recurrent_loops = 2 times
    "gemma3n_text": {"layout": "streams"},  # AltUp's 4 streams, collapsed by the head transform
    "hrm_text": {"calls": (0, 1, 0, 1)},  # the H stack, run H_cycles = 2 times
    "reformer": {"outputs": (1, 0), "inputs": (0, 1)},  # the reversible pair, concatenated
    "xlnet": {"layout": "time"},  # [seq, batch, d]
    "xlm": {"entry": "transformer.attentions.0"},  # layers of 4 parallel lists; layer_norm2 ends each
}


@pytest.mark.parametrize("model_type", READINGS)
def test_how_special_architectures_are_read(model_type):
    transformers.logging.set_verbosity_error()
    model = tiny_model(model_type)
    lm = LensModel.from_hf(model, name=model_type)
    expected = dict(READINGS[model_type])
    if "entry" in expected:
        expected["entry"] = model.get_submodule(expected["entry"])
    assert lm.parts.reading == Reading(**expected)
    calls = READINGS[model_type].get("calls")
    assert lm.n_layers == (len(calls) if calls else len(lm.parts.layers))
    if model_type == "gemma3n_text":
        assert type(lm.parts.final_norm.steps[0]).__name__ == "AltUpCollapse"


def test_a_backend_that_reads_plain_residuals_only_refuses_others():
    transformers.logging.set_verbosity_error()
    lm = LensModel.from_hf(tiny_model("dory"), name="dory")
    lm.backend = NNsightCapture()
    with pytest.raises(LatentLangError, match="only the hf backend"):
        lm.capture(left_pad([[5, 6, 7]], 0))
