"""Models that hide a lens part get an error naming the part."""

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from latentlang import LatentLangError, LensModel


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.mlp = nn.Linear(8, 8)

    def forward(self, h):
        return h + self.mlp(h)


class Toy(nn.Module):
    """A minimal causal LM: embedding, blocks, final norm, unembedding (each part optional)."""

    def __init__(self, functional_norm=False, scale=1.0, shift=0.0, head=True, blocks=True):
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(50, 8)
        self.blocks = nn.ModuleList([Block() for _ in range(2)]) if blocks else None
        self.norm = nn.LayerNorm(8)
        self.head = nn.Linear(8, 50, bias=False) if head else None
        self.functional_norm, self.scale, self.shift = functional_norm, scale, shift

    def get_output_embeddings(self):
        return self.head

    def forward(self, input_ids, **_):
        h = self.embed(input_ids)
        for block in self.blocks or []:
            h = block(h)
        h = nn.functional.layer_norm(h, (8,)) if self.functional_norm else self.norm(h)
        return SimpleNamespace(logits=self.head(h) * self.scale + self.shift)


def test_parts_of_a_plain_model_are_found():
    toy = Toy()
    lm = LensModel.from_hf(toy)
    assert lm.parts.final_norm is toy.norm and lm.n_layers == 2


def test_a_logit_scale_the_config_does_not_name_is_measured():
    lm = LensModel.from_hf(Toy(scale=2.0))
    assert lm.parts.logit_scale == pytest.approx(2.0) and lm.parts.softcap is None


@pytest.mark.parametrize(
    ("toy", "message"),
    [
        (Toy(blocks=False), "found no stack of decoder layers"),
        (Toy(head=False), "found no unembedding"),
        (Toy(functional_norm=True), "maps the last decoder layer's output to the unembedding's input"),
        (Toy(shift=1.0), "differs from the model's logits"),
    ],
)
def test_missing_or_unknown_parts_are_named(toy, message):
    with pytest.raises(LatentLangError, match=message):
        LensModel.from_hf(toy)
