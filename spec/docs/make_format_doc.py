"""Write ``docs/format.md``: the ndx-nwbsyn format, generated from the extension YAML.

(hdmf-docutils renders the same YAML to Sphinx; this keeps a readable Markdown copy in the
repository without that dependency.) Run ``python docs/make_format_doc.py`` after editing the
schema; ``tests/test_ndx_spec.py`` fails when the committed file is out of date.
"""

from pathlib import Path

from ruamel.yaml import YAML

HERE = Path(__file__).resolve().parent


def _quantity(spec) -> str:
    q = spec.get("quantity", 1)
    required = spec.get("required", True)
    return {1: "required", "?": "optional", "*": "any number", "+": "one or more"}.get(q, str(q)) \
        if required else "optional"


def _row(kind: str, spec) -> str:
    what = spec.get("neurodata_type_inc") or spec.get("target_type") or spec.get("dtype", "")
    shape = spec.get("dims")
    shape = f" [{', '.join(shape)}]" if shape and not isinstance(shape[0], list) else ""
    doc = " ".join(str(spec.get("doc", "")).split())
    return f"| {spec.get('name', '')} | {kind} | {what}{shape} | {_quantity(spec)} | {doc} |"


def render(extensions: Path, namespace: Path) -> str:
    ns = YAML(typ="safe").load(namespace.read_text())["namespaces"][0]
    ext = YAML(typ="safe").load(extensions.read_text())
    lines = [f"# {ns['name']} {ns['version']} format", "", " ".join(ns["doc"].split()), "",
             "Generated from the extension YAML by `docs/make_format_doc.py`; do not edit.", ""]
    for spec in ext.get("datasets", []) + ext.get("groups", []):
        lines += [f"## {spec['neurodata_type_def']}", "", f"Extends `{spec['neurodata_type_inc']}`. "
                  + " ".join(str(spec.get("doc", "")).split()), "",
                  "| name | kind | type / dtype | quantity | doc |", "|---|---|---|---|---|"]
        for kind in ("attributes", "datasets", "groups", "links"):
            for child in spec.get(kind, []):
                lines.append(_row(kind[:-1], child))
                for attr in child.get("attributes", []):
                    lines.append(_row("attribute", {**attr, "name": f"{child.get('name', '')}/{attr['name']}"}))
        lines.append("")
    return "\n".join(lines)


def main(output: Path = HERE / "format.md") -> None:
    spec = HERE.parent
    output.write_text(render(spec / "ndx-nwbsyn.extensions.yaml", spec / "ndx-nwbsyn.namespace.yaml"))


if __name__ == "__main__":
    main()
