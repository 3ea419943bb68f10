"""wenxin-magic: Baidu Qianfan (ERNIE / Wenxin) models in Jupyter.

``%load_ext wenxin_magic`` registers ``%%wenxin`` / ``%wenxin``; both talk to one
kernel-level :class:`~wenxin_magic.session.Session` (``get_session()``).
Everything heavy (httpx, the emulator's server stack, widgets) loads on first use,
and so does the session itself: importing this package imports nothing else.
"""

__version__ = "0.1.0"


def get_session():
    """The kernel's Session, created on first use."""
    from .session import get_session as current

    return current()


def __getattr__(name):
    # ``wenxin_magic.panel()`` opens a chat panel; the module is callable, and
    # importing it is deferred because it pulls in ipywidgets.
    if name == "panel":
        import importlib

        return importlib.import_module(f"{__name__}.panel")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_ipython_extension(ipython):
    from .magics import load

    load(ipython)


def unload_ipython_extension(ipython):
    from .magics import unload

    unload(ipython)
