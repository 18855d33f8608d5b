"""The shipped experiment and study configs (`emutrain.configs` once installed): `get_config(variant)`
of each module is a config; `emutrain.config_files.load_config(name, variant)` loads one by name."""
