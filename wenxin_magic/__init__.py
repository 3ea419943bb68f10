"""wenxin-magic: Baidu Qianfan (ERNIE / Wenxin) models in Jupyter.

``%load_ext wenxin_magic`` registers ``%%wenxin`` / ``%wenxin``; both talk to one
kernel-level :class:`~wenxin_magic.session.Session` (``get_session()``).
Everything heavy (httpx, the emulator's server stack, widgets) loads on first use.
"""

__version__ = "0.1.0"

_session = None


def get_session():
    """The kernel's Session, created on first use."""
    global _session
    if _session is None:
        from .session import Session

        _session = Session()
    return _session


def __getattr__(name):
    # ``wenxin_magic.panel()`` opens a chat panel; the module is callable, and
    # importing it is deferred because it pulls in ipywidgets.
    if name == "panel":
        import importlib

        return importlib.import_module(f"{__name__}.panel")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_ipython_extension(ipython):
    from .magics import WenxinMagics

    session = get_session()
    magics = WenxinMagics(shell=ipython, session=session)
    ipython.register_magics(magics)
    if magics not in ipython.configurables:
        ipython.configurables.append(magics)  # so %config WenxinMagics.x = ... reaches it
    for notice in session.notices:
        print(notice)
    session.notices.clear()


def unload_ipython_extension(ipython):
    global _session
    if _session is not None:
        _session.close()
        _session = None
