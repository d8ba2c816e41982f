"""polyalign: better multilingual sentence encoders from multi-way parallel text.

Three methods in one system: multi-positive contrastive learning (MPCL), soft contrastive
learning with a frozen teacher, and multi-way alignment from synthetic translations.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
