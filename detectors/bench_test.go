package detectors

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"
)

// cpuTime returns the CPU time this process has used. The benchmarks
// report MB per CPU second too: on a shared machine wall-clock MB/s
// measures the neighbours as much as the code.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds the "MB/cpu-s" metric for n bytes per iteration.
func reportCPU(b *testing.B, n int, start time.Duration) {
	if d := cpuTime() - start; d > 0 {
		b.ReportMetric(float64(n)*float64(b.N)/1e6/d.Seconds(), "MB/cpu-s")
	}
}

// chatText returns about n bytes of chat lines: mostly ordinary talk with
// prices, times, order numbers, and now and then a sensitive value.
func chatText(n int) []byte {
	clean := []string{
		"Hi there, thanks for reaching out to support today!",
		"Sure, I can help you with that. Could you tell me a bit more about the problem?",
		"I ordered the blue jacket last week but it hasn't arrived yet.",
		"Let me check the status of your order for you, one moment please.",
		"It looks like the package was delayed at the warehouse, sorry about that.",
		"The total was $49.99 and I paid with my usual method.",
		"Our store opens at 9:30 and closes at 18:00 on weekdays.",
		"Your order #48213 shipped on 2024-03-02 and should arrive Friday.",
		"Can you reset my password? I can't log in since yesterday.",
		"I've sent a reset link to the address on file; it expires in 30 minutes.",
		"Great, that worked. Thank you so much for the quick help!",
		"Is there anything else I can help you with today?",
		"The app version is 4.2.1 on Android 14, if that matters.",
		"We're running a 20% discount on all winter items until Sunday.",
		"My appointment is on Tuesday at 3pm with the dermatology clinic.",
	}
	sensitive := []string{
		"my card is 4111 1111 1111 1111, exp 12/27",
		"my SSN is 536-22-8741",
		"you can call me at (212) 555-0143",
		"my email is jane.doe@example.com",
		"Patient: Mary O'Neil, DOB: 03/14/1985, MRN: 12345678",
	}
	r := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	for b.Len() < n {
		if r.IntN(50) == 0 {
			b.WriteString(sensitive[r.IntN(len(sensitive))])
		} else {
			b.WriteString(clean[r.IntN(len(clean))])
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func BenchmarkRedact(b *testing.B) {
	e := mustCompile(b, Config{})
	ctx := context.Background()
	inputs := []struct {
		name string
		text []byte
	}{
		{"message", chatText(200)},
		{"chat64k", chatText(64 << 10)},
		{"prose64k", bytes.Repeat([]byte("Thanks so much for your patience while we look into this for you. "), 1000)},
		{"transcript256k", transcriptText(256 << 10)},
	}
	for _, in := range inputs {
		text := in.text
		b.Run(in.name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				if _, _, err := e.Redact(ctx, text, RedactOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, len(text), start)
		})
	}
}

func BenchmarkStream(b *testing.B) {
	e := mustCompile(b, Config{})
	ctx := context.Background()
	text := chatText(64 << 10)
	for _, chunk := range []int{16, 1024} {
		b.Run(fmt.Sprintf("chunk=%d", chunk), func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				st := e.NewStream(RedactOptions{})
				for i := 0; i < len(text); i += chunk {
					if _, _, err := st.Write(ctx, text[i:min(len(text), i+chunk)]); err != nil {
						b.Fatal(err)
					}
				}
				if _, _, err := st.Flush(ctx); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, len(text), start)
		})
	}
}

// BenchmarkCompile measures compiling the embedded defaults, the start-up
// cost of every veil process.
func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(Config{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSafeCut measures finding a cut in chat text, paid once per
// block by veil scan.
func BenchmarkSafeCut(b *testing.B) {
	e, err := Compile(Config{})
	if err != nil {
		b.Fatal(err)
	}
	text := chatText(1 << 20)
	near := 512 << 10
	for b.Loop() {
		if e.SafeCut(text[:near+24<<10], near) < 0 {
			b.Fatal("no cut")
		}
	}
}

// transcriptText returns about n bytes of a support transcript as
// `go run ./cmd/bench scan` generates it: every line starts with a time
// and a name, and many carry order numbers, prices and versions.
func transcriptText(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"Maria", "James", "Priya", "Tom", "Aisha", "Chen", "Olga", "Luis", "Fatima", "Noah"}
	lines := []string{
		"Hi Olga, thanks for reaching out to support today. How can I help?",
		"I was charged twice for order 588798 and would like a refund please",
		"Your appointment is confirmed for Maria at 10:30, please arrive 15 minutes early.",
		"Can you check why the app logs me out every few minutes since version 4.203523.1?",
		"The pharmacy says the prescription was sent but they have not received it yet",
		"Tracking number 1Z999AA100482913 shows it left the warehouse on Monday",
		"Our plan renews on the 1st and costs $7435.99 per month with tax included",
		"I have uploaded the documents, let me know if anything else is missing",
		"Billing here, I can see the invoice INV-2026-823001 on your account",
		"The doctor asked for the lab results from last week before the follow-up visit",
		"ok thanks, that worked! have a great day",
		"Is the clinic open on Saturday mornings or only weekdays?",
	}
	secrets := []string{
		"my card is 4111 1111 1111 1111 exp 09/28",
		"my SSN is 536-22-8741",
		"Medicare number 1EG4-TE5-MK73 for my mother",
		"please call me back at (415) 555-0132",
	}
	var b bytes.Buffer
	for b.Len() < n {
		line := lines[rng.IntN(len(lines))]
		if rng.IntN(50) == 0 {
			line = secrets[rng.IntN(len(secrets))]
		}
		fmt.Fprintf(&b, "[%02d:%02d] %s: %s\n", rng.IntN(24), rng.IntN(60), names[rng.IntN(len(names))], line)
	}
	return b.Bytes()
}
