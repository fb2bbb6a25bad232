"""examples/analysis.ipynb runs top to bottom in a real kernel, and shows what it says it shows."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "analysis.ipynb"


def test_the_example_notebook_executes(tmp_path: Path) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = [o["data"]["text/html"] for o in outputs if o.output_type == "execute_result" and "text/html" in o["data"]]
    assert "hpas_stalled" in html[0]  # the result object's summary renders as HTML
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 4
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    remedy = printed.split(" - ", 1)[0]
    assert remedy in {"container-resource", "retarget"} and "smallest residual skew" in printed
    assert "kubectl patch hpa inventory -n shop --type json" in printed
    if remedy == "container-resource":
        assert '"type": "ContainerResource"' in printed and '"container": "inventory"' in printed
    else:
        assert '"averageUtilization"' in printed and '"op": "test"' in printed
