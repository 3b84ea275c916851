"""MENAValues' whole grid: every benchmark item in the neutral, persona and observer framings,
in English and in each country's own language (Arabic, Persian for Iran, Turkish for Turkey;
from a translations file), one persona and observer per country.

``latentlang reproduce menavalues --data "MenaValues Benchmark.xlsx" [--translations FILE]``
runs one leakage run per language on one loaded model (each in its own folder, resumable) and
joins them, so the cross-lingual score (CLCS) can pair a country's English and native answers.
"""

from pathlib import Path

from latentlang.core.model import LensModel
from latentlang.errors import LatentLangError
from latentlang.language.menavalues import COUNTRIES, load_translations
from latentlang.outputs.files import write_outputs
from latentlang.results.leakage import LeakageResult
from latentlang.results.surveys import native_language
from latentlang.studies.leakage import LEAKAGE, LeakageConfig


def grid_configs(config) -> list[LeakageConfig]:
    """One leakage config per language of the grid: English with every country, then each native
    language the translations file holds with the countries that speak it.

    Args:
        config: A :class:`~latentlang.studies.reproduce.ReproduceConfig` for ``menavalues``.
    """
    if not str(config.data).endswith((".xlsx", ".xls")) or not Path(config.data).is_file():
        raise LatentLangError(f"--data {config.data!r} is not a spreadsheet; give MenaValues Benchmark.xlsx")
    countries = list(config.countries or COUNTRIES)
    translated = set(load_translations(config.translations)["lang"]) if config.translations else set()
    langs = config.langs or ["en", *sorted({native_language(c) for c in countries} & translated)]
    shared = {
        "model": config.model,
        "backend": config.backend,
        "device": config.device,
        "dtype": config.dtype,
        "device_map": config.device_map,
        "remote": config.remote,
        "questions": config.data,
        "translations": config.translations,
        "limit": config.limit,
        "batch_size": config.batch_size,
        "framings": ["neutral", "persona", "observer"],
    }
    runs = []
    for lang in langs:
        speakers = countries if lang == "en" else [c for c in countries if native_language(c) == lang]
        if speakers:
            runs.append(
                LeakageConfig(**shared, langs=[lang], countries=speakers, out=f"{config.out}/leakage-{lang}")
            )
    return runs


def reproduce_menavalues(config, lm: LensModel | None = None, progress: bool = True) -> LeakageResult:
    """Run the grid (writing each language's outputs in its folder) and return the joined result."""
    runs = grid_configs(config)
    lm = lm or config.load()
    parts = []
    for run in runs:
        result = LEAKAGE.run(run, lm, progress)
        write_outputs(result, run.out)
        parts.append(result)
    meta = {**parts[0].meta, "langs": [lang for run in runs for lang in run.langs], "study": "menavalues"}
    return LeakageResult.concat(parts, meta=meta)
