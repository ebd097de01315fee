package vault

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	crashDirEnv = "VEIL_VAULT_CRASH_DIR"
	crashKeyEnv = "VEIL_VAULT_CRASH_KEY"
)

func crashValue(i int) string {
	return fmt.Sprintf("4111-crash-%06d-%s", i, strings.Repeat("x", i%300))
}

// TestCrashChild is the child half of TestCrashRecovery: it stores records
// in a loop and acknowledges each only after Put returned.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("runs only as the child of TestCrashRecovery")
	}
	key, err := base64.StdEncoding.DecodeString(os.Getenv(crashKeyEnv))
	if err != nil {
		t.Fatal(err)
	}
	v, err := Open(context.Background(), dir, key, Options{})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute) // the parent kills us long before
	for i := 0; time.Now().Before(deadline); i++ {
		l, err := v.Put(context.Background(), NewRecord{Type: "card", Value: []byte(crashValue(i)), PurgeOnView: i%2 == 0})
		if err != nil {
			fmt.Printf("error %v\n", err)
			os.Exit(3)
		}
		fmt.Printf("ok %s %s\n", l.RecordID, l.Token)
	}
}

// TestCrashRecovery kills a process with SIGKILL while it stores records,
// then checks that every acknowledged record opens with its exact value and
// that the database is intact.
func TestCrashRecovery(t *testing.T) {
	requireCgo(t)
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	dir := t.TempDir()
	key := testKey(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashKeyEnv+"="+base64.StdEncoding.EncodeToString(key))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	type ack struct{ id, token string }
	var acks []ack
	sc := bufio.NewScanner(out)
	const want = 150
	for len(acks) < want && sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[0] == "ok" {
			acks = append(acks, ack{f[1], f[2]})
		} else if len(f) > 0 && f[0] == "error" {
			t.Fatalf("child: %s", sc.Text())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Lines the child wrote between our last read and the kill are
	// acknowledged too.
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "ok" {
			acks = append(acks, ack{f[1], f[2]})
		}
	}
	cmd.Wait()
	if len(acks) < want {
		t.Fatalf("child acknowledged only %d records", len(acks))
	}

	ctx := context.Background()
	v, err := Open(ctx, dir, key, Options{})
	if err != nil {
		t.Fatalf("reopening after the crash: %v", err)
	}
	defer v.Close()
	var check string
	if err := v.w.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q, %v", check, err)
	}
	// At most one record was in flight, and it is whole or absent.
	var records, sealed int
	v.r.QueryRow(`SELECT count(*) FROM records`).Scan(&records)
	v.r.QueryRow(`SELECT count(*) FROM records r JOIN sealed s ON s.record_id = r.id WHERE s.value IS NOT NULL`).Scan(&sealed)
	if records < len(acks) || records > len(acks)+1 || sealed != records {
		t.Fatalf("%d records (%d with a sealed value) for %d acknowledgements", records, sealed, len(acks))
	}
	for i, a := range acks {
		got, err := v.Reveal(ctx, a.token, "alice", "")
		if err != nil {
			t.Fatalf("acknowledged record %d (%s): %v", i, a.id, err)
		}
		if got.RecordID != a.id || string(got.Value) != crashValue(i) {
			t.Fatalf("record %d: got %s %q", i, got.RecordID, got.Value)
		}
	}
	if _, err := v.VerifyAudit(ctx); err != nil {
		t.Fatalf("audit trail after the crash: %v", err)
	}
	t.Logf("%d acknowledged records intact after SIGKILL; %d on disk", len(acks), records)
}
