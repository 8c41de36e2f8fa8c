"""The folder ``kwarg-guard run`` puts first on ``PYTHONPATH``: it holds only ``sitecustomize``."""
