"""stella-book: a reproducible implementation of STELLA (Lee et al., ICML 2024)."""
import warnings

__version__ = "0.3.0"

# timm imports huggingface_hub, which imports tqdm.auto; in a Jupyter kernel without ipywidgets that
# warns on every notebook. stella's own bars are plain-text tqdm, so the warning says nothing useful.
warnings.filterwarnings("ignore", message="IProgress not found", module="tqdm")
