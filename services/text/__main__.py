"""python -m services.text --config mesh.json"""
from mediamesh.service_runtime import run_service
from services.text.servicer import bindings

if __name__ == "__main__":
    run_service("text", bindings)
