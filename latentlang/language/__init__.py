"""Languages and their data, with no model: codes, names and colours; word lists and the published
datasets; token sets of a vocabulary; language ID of tokens; value questions and answer reading."""
