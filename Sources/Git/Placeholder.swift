// Module Git: placeholder until its first real file lands; delete when adding one.
