"""Language codes and the names prompts use for them.

Prompts name each language in that language (``Français``, ``中文``), as in the published
translation task (Wendler et al., 2024, *Do Llamas Work in English?*).
"""

from latentlang.errors import LatentLangError

#: ISO 639-1 code -> the language's name in itself, as written in few-shot prompts.
LANGUAGE_NAMES: dict[str, str] = {
    "en": "English",
    "de": "Deutsch",
    "fr": "Français",
    "es": "Español",
    "it": "Italiano",
    "pt": "Português",
    "nl": "Nederlands",
    "pl": "Polski",
    "cs": "Čeština",
    "sv": "Svenska",
    "da": "Dansk",
    "nb": "Norsk",
    "fi": "Suomi",
    "et": "Eesti",
    "hu": "Magyar",
    "ro": "Română",
    "tr": "Türkçe",
    "id": "Bahasa Indonesia",
    "vi": "Tiếng Việt",
    "ru": "Русский",
    "uk": "Українська",
    "bg": "Български",
    "el": "Ελληνικά",
    "he": "עברית",
    "ar": "العربية",
    "fa": "فارسی",
    "hi": "हिन्दी",
    "bn": "বাংলা",
    "zh": "中文",
    "ja": "日本語",
    "ko": "한국어",
    "th": "ไทย",
}


def check_language(code: str, available: list[str] | None = None) -> str:
    """Return ``code`` if latentlang knows it (and ``available`` has it), else raise.

    Args:
        code: An ISO 639-1 code such as ``"fr"``.
        available: The codes a word list holds; ``None`` checks only that the code is known.

    Raises:
        LatentLangError: The code is unknown or missing from ``available``.
    """
    if code not in LANGUAGE_NAMES:
        known = ", ".join(sorted(LANGUAGE_NAMES))
        raise LatentLangError(f"unknown language code {code!r}; use one of: {known}")
    if available is not None and code not in available:
        raise LatentLangError(
            f"the word list has no column for {code!r}; it has: {', '.join(available)} "
            "(add a column, or pass --words with a list that has it)"
        )
    return code
