"""Figures. Each function takes results and returns a matplotlib ``Figure``; none shows or saves
it (the caller decides). Figures are built without pyplot, so making one changes no global state.
"""

from latentlang.plots.curves import (
    language_mass_figure,
    latent_language_figure,
    latent_languages_figure,
    source_split_figure,
)
from latentlang.plots.grids import grid_figure, grid_summary_figure
from latentlang.plots.style import LANGUAGE_COLORS, language_colors, save_figure
from latentlang.plots.token_grid import token_grid_figure

__all__ = [
    "LANGUAGE_COLORS",
    "grid_figure",
    "grid_summary_figure",
    "language_colors",
    "language_mass_figure",
    "latent_language_figure",
    "latent_languages_figure",
    "save_figure",
    "source_split_figure",
    "token_grid_figure",
]
