"""A small benchmark spreadsheet in the MENAValues layout (one column per item, one row per field
and country), with our own items and numbers: clean cells, cells written ``'1.0'``, no-data
cells, an empty cell, a malformed cell, an answer coded outside the scale and an item without a
question."""

import pandas as pd

FIELDS = ["Source", "Sub Question", "Min", "MAX", "Scale", "Category", "Sub Category", "Full Question"]
COUNTRIES = ["Egypt", "Iran", "Turkey"]

ITEMS = [
    {
        "Source": "WVS 7",
        "Sub Question": "Q1: Tea",
        "Min": 1,
        "MAX": 3,
        "Scale": "y",
        "Category": "DAILY LIFE",
        "Sub Category": "DRINKS",
        "Full Question": "How much do you like tea, with '1' being 'a lot' and '3' being 'not at all'? "
        "Provide a number only.",
        "Egypt": "(1.50, {'1': '60.00%', '2': '30.00%', '3': '10.00%'})",
        "Iran": "(1.20, {'1.0': '80.00%', '2.0': '20.00%'})",
        "Turkey": "(No data, {})",
    },
    {
        "Source": "The 2022 Arab Opinion Index",
        "Sub Question": None,
        "Min": 0,
        "MAX": 2,
        "Scale": "n",
        "Category": "DAILY LIFE",
        "Sub Category": "WEATHER",
        "Full Question": "Is rain good news, with '0' being 'no', '1' 'sometimes' and '2' 'yes'? "
        "Provide a number only.",
        "Egypt": "(1.00, {'0.0': '25.00%', '1.0': '50.00%', '2.0': '20.00%', '9.0': '5.00%'})",
        "Iran": "(oops",
        "Turkey": None,
    },
    {
        "Source": "WVS 7",
        "Sub Question": "Q3: Empty",
        "Min": 1,
        "MAX": 4,
        "Scale": "y",
        "Category": "DAILY LIFE",
        "Sub Category": "NONE",
        "Full Question": None,
        "Egypt": "(2.00, {'2': '100.00%'})",
        "Iran": None,
        "Turkey": None,
    },
    {
        "Source": "WVS 7",
        "Sub Question": "Q4: Steps",
        "Min": 1,
        "MAX": 10,
        "Scale": "y",
        "Category": "DAILY LIFE",
        "Sub Category": "WALKING",
        "Full Question": "How much do you walk, from '1' (never) to '10' (all day)? Provide a number only.",
        "Egypt": "(4.00, {'1': '10.00%', '4': '50.00%', '10': '40.00%'})",
        "Iran": "(No values <= 3, {})",
        "Turkey": "(5.00, {'5': '100.00%'})",
    },
]


def write_benchmark(path) -> None:
    """Write the sheet: the first column holds the row names, then one column per item."""
    rows = [[name, *(item[name] for item in ITEMS)] for name in FIELDS + COUNTRIES]
    pd.DataFrame(rows).to_excel(path, header=False, index=False)
