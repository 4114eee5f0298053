"""TextService: see proto/mediamesh/v1/text.proto for the contract."""
