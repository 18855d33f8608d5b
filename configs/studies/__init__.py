"""Study configs (`emutrain.study`)."""
