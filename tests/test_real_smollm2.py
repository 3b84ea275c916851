"""SmolLM2-135M-Instruct (the second shipped model): a chat model for the leakage study."""

import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm2():
    import latentlang

    return latentlang.load_model("smollm2-135m-instruct", device="cpu", dtype="float32")


def test_lens_parts_and_chat_template(smollm2):
    assert smollm2.n_layers == 30
    assert smollm2.tokenizer.chat_template
    assert smollm2.check_lens() <= 2e-3  # max |logit| is about 20: 1e-4 relative


def test_leakage_with_the_chat_template(smollm2, tmp_path):
    """Through the chat template, the lens at the last layer gives the model's own option
    distribution, and the reply is read from the generated text."""
    from latentlang.studies.leakage import LeakageConfig, run_leakage

    config = LeakageConfig(
        limit=3,
        langs=["en"],
        framings=["persona", "observer"],
        countries=["Iran"],
        out=str(tmp_path / "out"),
        max_new_tokens=8,
    )
    result = run_leakage(config, lm=smollm2, progress=False)
    assert result.meta["chat"] and "<|im_start|>assistant" in result.items["prompt"].iloc[0]
    np.testing.assert_allclose(result.option_probs[:, -1], result.final_probs, atol=1e-4)
    assert result.items["generated"].str.len().gt(0).all()
