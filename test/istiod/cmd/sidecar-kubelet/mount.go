package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// writeVolume writes files into dir as the kubelet's AtomicWriter does: a new timestamped folder, then an atomic
// swap of the ..data symlink, with each file a symlink through ..data. A reader sees the old set or the new one.
func writeVolume(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ts := fmt.Sprintf("..%s.%d", time.Now().UTC().Format("2006_01_02_15_04_05.000000000"), os.Getpid())
	if err := os.Mkdir(filepath.Join(dir, ts), 0o755); err != nil {
		return err
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, ts, name), b, 0o644); err != nil {
			return err
		}
	}
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	tmp := filepath.Join(dir, "..data_tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink(ts, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		return err
	}
	for name := range files {
		link := filepath.Join(dir, name)
		if _, err := os.Lstat(link); err != nil {
			if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
				return err
			}
		}
	}
	if old != "" && old != ts && strings.HasPrefix(old, "..") {
		_ = os.RemoveAll(filepath.Join(dir, old))
	}
	return nil
}

// writeAtomic replaces one file by a rename, so a reader never sees it half written.
func writeAtomic(path string, b []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// downwardAPI renders labels or annotations as the kubelet's downward-API volume does: key="value" per line,
// sorted by key, values quoted.
func downwardAPI(m map[string]string) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sortStrings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%q\n", k, m[k])
	}
	return []byte(strings.TrimSuffix(b.String(), "\n"))
}
