"""mediamesh: shared runtime and Python client SDK of the media-AI mesh.

Kept import-light on purpose: the build hook imports `mediamesh.protogen` from here.
"""

__version__ = "0.1.0"
