package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// deployDir holds the deployment examples the README points at.
const deployDir = "../../deploy"

// yamlDocs decodes every document of a YAML file.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", filepath.Base(path), len(docs)+1, err)
		}
		docs = append(docs, doc)
	}
	if len(docs) == 0 {
		t.Fatalf("%s: no YAML documents", path)
	}
	return docs
}

func TestDeployYAMLParses(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(deployDir, "*.yaml"))
	if err != nil || len(files) < 3 {
		t.Fatalf("deploy examples: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { yamlDocs(t, f) })
	}
}

// checkVeilConfig loads a config with the real loader and checks what the
// examples promise: a usable TLS section, a key that comes from outside the
// file, and plain HTTP only on loopback.
func checkVeilConfig(t *testing.T, path string) *fileConfig {
	t.Helper()
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatalf("loadConfig(%s): %v", filepath.Base(path), err)
	}
	if err := validateTLS(cfg.TLS); err != nil {
		t.Errorf("tls: %v", err)
	}
	if cfg.Vault.Key.Env == "" && cfg.Vault.Key.File == "" {
		t.Error("vault key source missing")
	}
	if _, err := newLogger(cfg.Log, io.Discard, false); err != nil {
		t.Errorf("log: %v", err)
	}
	return cfg
}

func TestDeployVeilConfigs(t *testing.T) {
	tests := []struct {
		file     string
		mode     string
		loopback bool // tls off must then listen on loopback
	}{
		{"veil.yaml", "acme", false},
		{"veil-local.yaml", "off", true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			cfg := checkVeilConfig(t, filepath.Join(deployDir, tt.file))
			if cfg.TLS.Mode != tt.mode {
				t.Errorf("tls.mode %q, want %q", cfg.TLS.Mode, tt.mode)
			}
			if tt.loopback && tlsOffWarning(cfg.Listen) != "" {
				t.Errorf("listen %q is not loopback", cfg.Listen)
			}
			if cfg.AdminListen == "" {
				t.Error("admin_listen not set")
			}
		})
	}
}

// TestDeployConfigStrict shows the loader the examples go through rejects
// what it should, so a passing example means something.
func TestDeployConfigStrict(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(deployDir, "veil.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, from, to string }{
		{"unknown key", "data_dir:", "data_directory:"},
		{"bad route body", "body: json", "body: xml"},
		{"bad tls mode", "mode: acme", "mode: auto"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Contains(data, []byte(tt.from)) {
				t.Fatalf("example lacks %q", tt.from)
			}
			path := filepath.Join(t.TempDir(), "veil.yaml")
			if err := os.WriteFile(path, bytes.Replace(data, []byte(tt.from), []byte(tt.to), 1), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := loadConfig(path); err == nil {
				t.Error("loadConfig accepted the broken config")
			}
		})
	}
}

// k8sContainer is the part of a container spec the test reads.
type k8sContainer struct {
	Name  string `yaml:"name"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom struct {
			SecretKeyRef struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	LivenessProbe  k8sProbe `yaml:"livenessProbe"`
	ReadinessProbe k8sProbe `yaml:"readinessProbe"`
}

type k8sProbe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

func TestDeployKubernetes(t *testing.T) {
	docs := yamlDocs(t, filepath.Join(deployDir, "kubernetes.yaml"))
	var veilYAML string
	var containers []k8sContainer
	for _, d := range docs {
		switch d["kind"] {
		case "ConfigMap":
			data, _ := d["data"].(map[string]any)
			veilYAML, _ = data["veil.yaml"].(string)
		case "Deployment", "StatefulSet", "Pod":
			raw, err := yaml.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			var w struct {
				Spec struct {
					Containers []k8sContainer `yaml:"containers"`
					Template   struct {
						Spec struct {
							Containers []k8sContainer `yaml:"containers"`
						} `yaml:"spec"`
					} `yaml:"template"`
				} `yaml:"spec"`
			}
			if err := yaml.Unmarshal(raw, &w); err != nil {
				t.Fatal(err)
			}
			containers = append(append(containers, w.Spec.Containers...), w.Spec.Template.Spec.Containers...)
		}
	}
	if veilYAML == "" {
		t.Fatal("no ConfigMap with veil.yaml")
	}
	path := filepath.Join(t.TempDir(), "veil.yaml")
	if err := os.WriteFile(path, []byte(veilYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := checkVeilConfig(t, path)

	if len(containers) < 2 {
		t.Fatalf("want the app and the veil sidecar, got %d containers", len(containers))
	}
	var veil *k8sContainer
	for i := range containers {
		if containers[i].Name == "veil" {
			veil = &containers[i]
		}
	}
	if veil == nil {
		t.Fatal("no container named veil")
	}
	keyFromSecret := false
	for _, e := range veil.Env {
		if e.Name == cfg.Vault.Key.Env {
			keyFromSecret = e.Value == "" && e.ValueFrom.SecretKeyRef.Name != ""
		}
	}
	if !keyFromSecret {
		t.Errorf("%s does not come from a Secret", cfg.Vault.Key.Env)
	}

	_, adminPort, err := net.SplitHostPort(cfg.AdminListen)
	if err != nil {
		t.Fatalf("admin_listen: %v", err)
	}
	portOf := func(p any) string {
		if s, ok := p.(string); ok {
			for _, cp := range veil.Ports {
				if cp.Name == s {
					return strconv.Itoa(cp.ContainerPort)
				}
			}
			return s
		}
		return strconv.Itoa(p.(int))
	}
	for _, pr := range []struct {
		name  string
		probe k8sProbe
		path  string
	}{
		{"liveness", veil.LivenessProbe, "/healthz"},
		{"readiness", veil.ReadinessProbe, "/readyz"},
	} {
		if pr.probe.HTTPGet.Path != pr.path || portOf(pr.probe.HTTPGet.Port) != adminPort {
			t.Errorf("%s probe %s on port %v, want %s on the admin port %s",
				pr.name, pr.probe.HTTPGet.Path, pr.probe.HTTPGet.Port, pr.path, adminPort)
		}
	}
}

func TestDeployDockerfile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(deployDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var froms int
	var user string
	cgo := false
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			froms++
		case "USER":
			user = f[1]
		}
		if strings.Contains(line, "CGO_ENABLED=1") {
			cgo = true
		}
	}
	if froms < 2 {
		t.Errorf("want a multi-stage build, got %d FROM", froms)
	}
	if !cgo {
		t.Error("the build must enable cgo (SQLite)")
	}
	if u := strings.Split(user, ":")[0]; u == "" || u == "root" || u == "0" {
		t.Errorf("final stage runs as %q, want a non-root user", user)
	}
}

func TestDeploySystemdUnit(t *testing.T) {
	path := filepath.Join(deployDir, "veil.service")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf("not a key=value line: %q", line)
			continue
		}
		keys[k] = append(keys[k], v)
	}
	want := map[string]string{
		"DynamicUser":     "yes",
		"ProtectSystem":   "strict",
		"NoNewPrivileges": "yes",
		"StateDirectory":  "veil",
		"EnvironmentFile": "/etc/veil/veil.env",
		"ProtectHome":     "yes",
		"PrivateTmp":      "yes",
		"LimitCORE":       "0",
	}
	for k, v := range want {
		if got := keys[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s=%v, want %s", k, got, v)
		}
	}
	if es := keys["ExecStart"]; len(es) != 1 || !strings.Contains(es[0], "veil serve --config") {
		t.Errorf("ExecStart=%v", es)
	}
	if r := keys["ExecReload"]; len(r) != 1 || !strings.Contains(r[0], "-HUP") {
		t.Errorf("ExecReload=%v, want a SIGHUP", r)
	}

	// systemd's own checker, where it is installed, with a stand-in binary.
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(t.TempDir(), "veil.service")
	if err := os.WriteFile(unit, bytes.ReplaceAll(data, []byte("/usr/local/bin/veil"), []byte("/bin/true")), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(sa, "verify", unit).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Logf("systemd-analyze verify: %v\n%s", err, out)
		if err != nil {
			t.Errorf("systemd-analyze verify failed")
		}
	}
}
