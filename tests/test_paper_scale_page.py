"""book/paper_scale.md: it leads with the one command, its conversion table is the converter's, and its table of
what the paper presets change lists every value where they differ from the cpu preset."""
import re
from pathlib import Path

import stella.models.convert_cavmae as convert
from stella.config import load_config

PAGE = (Path(__file__).resolve().parent.parent / "book" / "paper_scale.md").read_text()


def test_the_page_leads_with_the_one_command():
    first_code = re.search(r"```bash\n(.*?)```", PAGE, re.S).group(1)
    assert first_code.startswith("stella paper --manifest") and "--dry-run" in first_code
    assert PAGE.index("## The one command") < PAGE.index("## The pieces")
    assert "Every number in this book comes from the `cpu` preset on a CPU" in PAGE.split("##")[0]


def test_the_conversion_table_is_the_docstrings():
    doc = convert.__doc__
    table = doc[doc.index("| CAV-MAE key"):doc.index("\n\n", doc.index("| CAV-MAE key"))]
    assert table in PAGE


def test_every_value_the_paper_presets_change_is_listed():
    cpu = load_config("cpu").to_dict()
    section = PAGE[PAGE.index("## What the paper preset changes"):]
    listed = set()
    for row in section.splitlines():
        if row.startswith("| ") and "`" in row.split("|")[1]:
            cell = row.split("|")[1]
            keys = re.findall(r"`([a-z_]+(?:\.[a-z_]+)?)`", cell)
            head = keys[0].split(".")[0]
            listed |= {k if "." in k else f"{head}.{k}" for k in keys}
    changed = {f"{s}.{k}" for name in ("paper", "paper-as") for s, values in load_config(name).to_dict().items()
               if isinstance(values, dict) for k, v in values.items() if cpu[s].get(k) != v}
    assert changed and changed <= listed, sorted(changed - listed)
