"""AudioService: see proto/mediamesh/v1/audio.proto for the contract."""
