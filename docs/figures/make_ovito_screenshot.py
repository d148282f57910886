"""Render docs/figures/ovito-structid.png headless: the bundled example's first frame through
OVITO's pipeline with structid's StructureIdentification modifier (NM-CNN), colours by type.

Run: .venv/bin/python docs/figures/make_ovito_screenshot.py (needs examples/grains.lammpstrj,
made by `make demo`).
"""

from pathlib import Path

from ovito.io import import_file
from ovito.vis import TachyonRenderer, TextLabelOverlay, Viewport

from structid.ovito import StructureIdentification

HERE = Path(__file__).resolve().parent
pipeline = import_file(str(HERE.parents[1] / "examples" / "grains.lammpstrj"))
pipeline.modifiers.append(StructureIdentification(method="nmcnn", neighbor_average=12))
pipeline.add_to_scene()
data = pipeline.compute(0)
counts = {k.rsplit(".", 1)[1]: v for k, v in data.attributes.items() if k.startswith("StructureIdentification.counts.") and v}
viewport = Viewport(type=Viewport.Type.Perspective, camera_dir=(-1, -0.7, -0.6))
viewport.zoom_all()
viewport.overlays.append(TextLabelOverlay(text="structid: NM-CNN, neighbour average 12", font_size=0.04,
                                          text_color=(0, 0, 0), offset_y=-0.01))
viewport.overlays.append(TextLabelOverlay(text=", ".join(f"{k} {v}" for k, v in counts.items()), font_size=0.035,
                                          text_color=(0, 0, 0), offset_y=-0.07))
viewport.render_image(size=(900, 650), filename=str(HERE / "ovito-structid.png"), renderer=TachyonRenderer(),
                      background=(1, 1, 1))
print(counts)
