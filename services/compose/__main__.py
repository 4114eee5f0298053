"""python -m services.compose --config mesh.json"""
from mediamesh.service_runtime import run_service
from services.compose.servicer import bindings

if __name__ == "__main__":
    run_service("compose", bindings)
