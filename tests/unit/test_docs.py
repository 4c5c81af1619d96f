"""The examples in docs/ are run, so the reference cannot drift from the code."""
import re
from pathlib import Path

from blockprov.storage import loader, validate
from blockprov.storage.model import Model
from blockprov.storage.plan import blank_inventory, plan

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_storage_reference_example_validates_and_plans():
    text = (DOCS / "storage-config.md").read_text()
    block = re.search(r"## Example.*?```yaml\n(.*?)```", text, re.S).group(1)
    l = loader.parse_text(block)
    assert validate.errors(validate.validate(l.storage, l.prefix)) == []
    m = Model.build(l.storage, l.prefix)
    p = plan(m, blank_inventory(m))
    assert {i.status for i in p.items} == {"create"}


def test_every_validation_code_is_documented():
    text = (DOCS / "storage-config.md").read_text()
    src = (Path(validate.__file__)).read_text()
    for code in ("duplicate-id", "dangling-ref", "wrong-ref-type", "cycle", "wipe-preserve", "raid-spares",
                 "label-too-long", "overlapping-partitions", "duplicate-mount", "bad-size"):
        assert f"`{code}`" in text and f'"{code}"' in src
