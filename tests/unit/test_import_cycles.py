"""No import cycles in blockprov or the engine, counting every import statement, those inside functions too
(issue 22). A module imported as ``from pkg import name`` counts as an edge to ``pkg.name`` when that is a
module, else to ``pkg``; the graph's strongly connected components must all be single modules."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def modules() -> dict[str, Path]:
    out = {}
    for base, pkg in ((ROOT / "blockprov", "blockprov"), (ROOT / "engine", "blockprov_engine")):
        for p in base.rglob("*.py"):
            parts = (pkg, *p.relative_to(base).with_suffix("").parts)
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = p
    return out


def graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    g: dict[str, set[str]] = {m: set() for m in mods}
    for m, p in mods.items():
        pkg = m if p.name == "__init__.py" else m.rpartition(".")[0]
        for n in ast.walk(ast.parse(p.read_text())):
            targets = []
            if isinstance(n, ast.Import):
                targets = [a.name for a in n.names]
            elif isinstance(n, ast.ImportFrom):
                base = n.module or ""
                if n.level:
                    parts = pkg.split(".")
                    base = ".".join(parts[:len(parts) - n.level + 1] + ([n.module] if n.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in n.names]
            for t in targets:
                r = resolve(t)
                if r and r != m:
                    g[m].add(r)
    return g


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module (iterative)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in g:
        if root in index:
            continue
        work = [(root, iter(sorted(g[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(g[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    x = stack.pop()
                    on.discard(x)
                    comp.append(x)
                    if x == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_no_import_cycles():
    assert cycles(graph(modules())) == []


def test_the_check_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_command_has_an_explicit_handler():
    """issue 22: dispatch through tables, not globals(): every command cli.py parses has a named function."""
    from blockprov.cli import boot as boot_cli
    from blockprov.cli import main as cli
    from blockprov.cli import update as update_cli

    routed = set(boot_cli.COMMANDS) | set(update_cli.COMMANDS) | {"storage", "demo", "channel"}
    assert set(cli.COMMANDS) == routed
    assert set(update_cli.HOTPLUG) == {"enable", "disable", "status", "process", "handle"}


def test_one_status_vocabulary():
    from blockprov.modules import _storage
    from blockprov.storage import plan, render, status

    assert plan.GOOD == status.PLANNED_GOOD and _storage.BAD == status.BAD
    assert set(render.MARK) >= set(status.ALL)


def test_every_package_is_shipped():
    """pyproject.toml lists packages explicitly: a new folder missing there installs nowhere (the VM tier's
    Debian package would lack it)."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "blockprov").rglob("__init__.py")
             if "__pycache__" not in p.parts}
    assert found - listed == set(), found - listed
