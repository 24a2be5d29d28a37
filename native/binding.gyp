{
  "targets": [
    {
      "target_name": "kiln_native",
      "sources": ["src/binding.c", "src/kiln_bpf.c", "src/skeletons.c"],
      "include_dirs": ["../bpf", "../bpf/build"],
      "cflags": ["-Wall", "-Wno-missing-field-initializers", "-O2", "-std=gnu11"],
      "libraries": ["-lbpf", "-lelf", "-lz", "-liberty"]
    }
  ]
}
