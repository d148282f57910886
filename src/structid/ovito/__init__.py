"""OVITO modifiers: structid's structure identification and denoising inside OVITO pipelines.

Registered under the ``OVITO.Modifier`` entry point, so that OVITO Pro lists them among its
modifiers once structid is installed in its Python interpreter; in a Python script::

    from ovito.io import import_file
    from structid.ovito import StructureIdentification

    pipeline = import_file("dump.lammpstrj")
    pipeline.modifiers.append(StructureIdentification(method="nmcnn", neighbor_average=12))
    data = pipeline.compute()
    data.particles["Structure Type"]          # typed, OVITO's ids and colours
    data.attributes["StructureIdentification.counts.FCC"]

Importing this module imports OVITO; the rest of structid does not need it.
"""

from structid.ovito.modifiers import Denoising, StructureIdentification

__all__ = ["Denoising", "StructureIdentification"]
