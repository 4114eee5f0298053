"""VisionService: see proto/mediamesh/v1/vision.proto for the contract."""
