package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/rogpeppe/go-internal/testscript"
	"github.com/rogpeppe/go-internal/txtar"

	"github.com/keyrotor/keyrotor/internal/deployed"
	"github.com/keyrotor/keyrotor/internal/localenv"
)

// The README's and the docs' command transcripts are run against the local engine, each
// command's output compared with the captured one after normalizing what differs between runs
// (ids, times, durations), and its exit status with the one the transcript states (`$ echo $?`,
// else 0). A transcript is a fenced block whose first line starts with "$ keyrotor"; an HTML
// comment `<!-- transcript: CMD; CMD -->` just before it sets the scene with the script
// commands below (user, propagation). KEYROTOR_UPDATE_TRANSCRIPTS=1 writes the outputs of
// this run back into the documents (review the diff before committing it).
//
// testdata/*.txtar are testscript scripts of their own: the exit status of every command, as
// the README states them.

// transcriptGlobs are the documents whose transcripts are checked, relative to the root.
var transcriptGlobs = []string{"README.md", "docs/*.md", "infra/README.md", "infra/modules/*/README.md", "statemachine/README.md"}

// checked counts the commands whose exit status and output were checked.
var checked atomic.Int64

// keyrotorMain is the keyrotor command of the scripts (testscript runs this test binary as it).
func keyrotorMain() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// block is one transcript in a document.
type block struct {
	file  string
	line  int      // of the opening fence
	setup []string // script commands from the comment before it
	cmds  []transcriptCmd
	start int // index in the file's lines of the block's first content line
	end   int // index of the closing fence
}

type transcriptCmd struct {
	args   []string
	output string // expected, as captured
	exit   int
}

var transcriptCommentRE = regexp.MustCompile(`^<!-- transcript: (.*) -->$`)

func parseTranscripts(file, text string) ([]block, error) {
	lines := strings.Split(text, "\n")
	var blocks []block
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "```") || i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "$ keyrotor ") {
			continue
		}
		b := block{file: file, line: i + 1, start: i + 1}
		if i > 0 {
			if m := transcriptCommentRE.FindStringSubmatch(lines[i-1]); m != nil {
				for _, c := range strings.Split(m[1], ";") {
					b.setup = append(b.setup, strings.TrimSpace(c))
				}
			}
		}
		j := i + 1
		for ; j < len(lines) && !strings.HasPrefix(lines[j], "```"); j++ {
			line := lines[j]
			cmd, ok := strings.CutPrefix(line, "$ ")
			switch {
			case ok && cmd == "echo $?":
				if len(b.cmds) == 0 || j+1 >= len(lines) {
					return nil, fmt.Errorf("%s:%d: echo $? before any command", file, j+1)
				}
				n, err := strconv.Atoi(lines[j+1])
				if err != nil {
					return nil, fmt.Errorf("%s:%d: echo $? must be followed by the status: %v", file, j+2, err)
				}
				b.cmds[len(b.cmds)-1].exit = n
				j++
			case ok:
				args, err := splitShell(cmd)
				if err != nil || len(args) == 0 || args[0] != "keyrotor" {
					return nil, fmt.Errorf("%s:%d: a transcript runs only keyrotor commands: %q", file, j+1, cmd)
				}
				b.cmds = append(b.cmds, transcriptCmd{args: args[1:]})
			default:
				c := &b.cmds[len(b.cmds)-1]
				c.output += line + "\n"
			}
		}
		b.end = j
		blocks = append(blocks, b)
		i = j
	}
	return blocks, nil
}

// splitShell splits a command line as sh would for the words transcripts use: plain words and
// single-quoted ones.
func splitShell(s string) ([]string, error) {
	var words []string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		if s[0] == '\'' {
			end := strings.IndexByte(s[1:], '\'')
			if end < 0 {
				return nil, errors.New("unterminated quote")
			}
			words = append(words, s[1:end+1])
			s = s[end+2:]
			continue
		}
		end := strings.IndexAny(s, " \t")
		if end < 0 {
			end = len(s)
		}
		words = append(words, s[:end])
		s = s[end:]
	}
	return words, nil
}

// normalizers replace what differs between two runs of the same transcript, in order.
var normalizers = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`-\d{8}T\d{6}-\d{3}Z`), "-<TIME>"}, // execution names
	{regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})`), "<DATE>"},
	{regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}\b`), "<DAY>"},
	{regexp.MustCompile(`\b\d{2}:\d{2}:\d{2}Z`), "<CLOCK>"},
	{regexp.MustCompile(`RequestID: [A-Za-z0-9-]+`), "RequestID: <ID>"},
	{regexp.MustCompile(`127\.0\.0\.1:\d+`), "127.0.0.1:<PORT>"},
	{regexp.MustCompile(`\b(\d+h)?(\d+m)?\d+(\.\d+)?s\b|\b\d+[mhd]\b`), "<T>"}, // durations and ages
	{regexp.MustCompile(`\b\d+\.\d+\b`), "<F>"},                                // ages in days
	// How often VerifyKey meets a key IAM has not propagated yet depends on the machine's
	// pace, not on keyrotor (on a loaded machine the 2 s delay may pass before VerifyKey runs,
	// and it retries none): the retries it took go, and the transitions and invocations they
	// added are placeholders (the states themselves, and every other count, stay).
	{regexp.MustCompile(`[ \t]+retries \d+ \(KeyNotYetValid( ×\d+)?\)`), ""},
	{regexp.MustCompile(`\b\d+ state transitions, \d+ Lambda invocations`), "<N> state transitions, <N> Lambda invocations"},
	{regexp.MustCompile(`[ \t]+`), " "},
}

var accessKeyRE = regexp.MustCompile(`\b(AKIA|ASIA)[A-Z0-9]{16}\b`)

// normalize makes a transcript comparable: access key ids become <KEY1>, <KEY2>, … in order
// of first appearance (so "the same key twice" is still checked), times and durations
// placeholders, runs of blanks one space, and trailing blanks go. Counts stay as they are, but for
// those of propagation retries.
func normalize(s string) string {
	keys := map[string]string{}
	s = accessKeyRE.ReplaceAllStringFunc(s, func(id string) string {
		if _, ok := keys[id]; !ok {
			keys[id] = fmt.Sprintf("<KEY%d>", len(keys)+1)
		}
		return keys[id]
	})
	for _, n := range normalizers {
		s = n.re.ReplaceAllString(s, n.with)
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

// captured are the outputs of this run, by block and command, for KEYROTOR_UPDATE_TRANSCRIPTS.
var (
	capturedMu sync.Mutex
	captured   = map[string]string{}
)

func captureKey(file string, line, i int) string { return fmt.Sprintf("%s:%d:%d", file, line, i) }

// script is the testscript script of a document's transcripts, one after another (they share
// the engine's IAM propagation delay, so they do not run side by side).
func script(blocks []block) []byte {
	var a txtar.Archive
	var s strings.Builder
	for _, b := range blocks {
		fmt.Fprintf(&s, "# %s:%d\n", b.file, b.line)
		for _, c := range b.setup {
			fmt.Fprintln(&s, c)
		}
		for i, c := range b.cmds {
			name := fmt.Sprintf("expect/%d-%d", b.line, i)
			fmt.Fprintf(&s, "kr %d %s\n", c.exit, quoteArgs(c.args))
			fmt.Fprintf(&s, "transcript $WORK/%s %s %d %d\n", name, b.file, b.line, i)
			a.Files = append(a.Files, txtar.File{Name: name, Data: []byte(c.output)})
		}
		fmt.Fprintln(&s, "propagation 0s")
	}
	a.Comment = []byte(s.String())
	return txtar.Format(&a)
}

func quoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = a
		if a == "" || strings.ContainsAny(a, " '\"#$") {
			q[i] = "'" + strings.ReplaceAll(a, "'", "''") + "'"
		}
	}
	return strings.Join(q, " ")
}

// scriptParams are the engine-bound commands every script may use:
//
//	kr CODE ARGS…        run keyrotor ARGS, want exit status CODE (stdout/stderr kept)
//	transcript F DOC L I compare the last kr's stdout+stderr with file F, normalized
//	user NAME [ACCOUNT] [PATH]  create the managed user NAME (one key; default path the
//	                     deployed engine's managed_user_path)
//	propagation D        new keys fail authentication for D, as while IAM propagates
//	setarn VAR           set $VAR to the execution ARN the last kr started
//	waitstate ARN STATE  wait (at most a minute) until the execution entered STATE
//	tag USER KEY VALUE   tag the IAM user
func scriptParams(t *testing.T, files []string) testscript.Params {
	return testscript.Params{
		Files: files,
		Setup: func(e *testscript.Env) error {
			e.Vars = append(e.Vars, env.Environ()...)
			root, err := deployed.FindRoot(".")
			if err != nil {
				return err
			}
			e.Vars = append(e.Vars, "ROOT="+root) // `cd $ROOT` for commands that need the checkout (demo)
			e.Vars = append(e.Vars,
				"AWS_CONFIG_FILE="+filepath.Join(e.WorkDir, "no-config"),
				"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(e.WorkDir, "no-credentials"),
				"AWS_EC2_METADATA_DISABLED=true")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"kr": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) < 1 {
					ts.Fatalf("usage: kr CODE ARGS…")
				}
				want, err := strconv.Atoi(args[0])
				if err != nil {
					ts.Fatalf("kr: exit status %q: %v", args[0], err)
				}
				got := 0
				var exitErr *exec.ExitError
				if err := ts.Exec("keyrotor", args[1:]...); errors.As(err, &exitErr) {
					got = exitErr.ExitCode()
				} else if err != nil {
					ts.Fatalf("kr: %v", err)
				}
				if got != want {
					ts.Fatalf("keyrotor %s exited %d, want %d", strings.Join(args[1:], " "), got, want)
				}
				checked.Add(1)
			},
			"transcript": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 4 {
					ts.Fatalf("usage: transcript FILE DOC LINE INDEX")
				}
				got := ts.ReadFile("stdout") + ts.ReadFile("stderr")
				line, _ := strconv.Atoi(args[2])
				i, _ := strconv.Atoi(args[3])
				capturedMu.Lock()
				captured[captureKey(args[1], line, i)] = got
				capturedMu.Unlock()
				if want := ts.ReadFile(args[0]); normalize(got) != normalize(want) && os.Getenv("KEYROTOR_UPDATE_TRANSCRIPTS") != "1" {
					ts.Fatalf("%s:%d: the captured output no longer matches (KEYROTOR_UPDATE_TRANSCRIPTS=1 rewrites it):\n--- captured (normalized)\n%s\n--- now (normalized)\n%s",
						args[1], line, normalize(want), normalize(got))
				}
			},
			"user": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) < 1 || len(args) > 3 {
					ts.Fatalf("usage: user NAME [ACCOUNT] [PATH]")
				}
				u := localenv.ManagedUser{Name: args[0], Keys: 1, Path: deployedDefaults(t).ManagedUserPath}
				for _, a := range args[1:] {
					if strings.HasPrefix(a, "/") {
						u.Path = a
					} else {
						u.Account = a
					}
				}
				if _, err := env.CreateManagedUser(context.Background(), u); err != nil {
					ts.Fatalf("user: %v", err)
				}
			},
			"setarn": func(ts *testscript.TestScript, neg bool, args []string) {
				m := regexp.MustCompile(`(?m)^started (arn:\S+)$`).FindStringSubmatch(ts.ReadFile("stdout"))
				if len(args) != 1 || m == nil {
					ts.Fatalf("setarn VAR: the last kr printed no 'started ARN' line")
				}
				ts.Setenv(args[0], m[1])
			},
			"waitstate": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: waitstate EXECUTION_ARN STATE")
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				for {
					events, err := fetchHistory(ctx, env.SFN(), args[0])
					if err != nil {
						ts.Fatalf("waitstate: %v", err)
					}
					tl := &timeline{}
					tl.add(events)
					if tl.run(args[1]) != nil {
						return
					}
					select {
					case <-ctx.Done():
						ts.Fatalf("waitstate: %s did not enter %s within a minute", args[0], args[1])
					case <-time.After(100 * time.Millisecond):
					}
				}
			},
			"tag": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 3 {
					ts.Fatalf("usage: tag USER KEY VALUE")
				}
				_, err := iam.NewFromConfig(env.AdminConfig()).TagUser(context.Background(), &iam.TagUserInput{
					UserName: aws.String(args[0]), Tags: []iamtypes.Tag{{Key: aws.String(args[1]), Value: aws.String(args[2])}},
				})
				if err != nil {
					ts.Fatalf("tag: %v", err)
				}
			},
			"propagation": func(ts *testscript.TestScript, neg bool, args []string) {
				d, err := time.ParseDuration(args[0])
				if err != nil {
					ts.Fatalf("propagation: %v", err)
				}
				env.Proxy.SetPropagationDelay(d)
				ts.Defer(func() { env.Proxy.SetPropagationDelay(0) })
			},
		},
	}
}

// deployedDefaults are the engine module's defaults, a deployed engine's settings.
func deployedDefaults(t *testing.T) deployed.Defaults {
	t.Helper()
	root, err := deployed.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	d, err := deployed.ReadDefaults(root)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestTranscriptsInTheDocsAndTheExitStatusOfEveryCommandHold(t *testing.T) {
	root, err := deployed.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	docs := map[string][]block{}
	var files []string
	for _, g := range transcriptGlobs {
		matches, err := filepath.Glob(filepath.Join(root, g))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range matches {
			rel, _ := filepath.Rel(root, m)
			files = append(files, rel)
		}
	}
	for _, f := range files {
		text, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		blocks, err := parseTranscripts(f, string(text))
		if err != nil {
			t.Fatal(err)
		}
		if len(blocks) == 0 {
			continue
		}
		docs[f] = blocks
		// One document at a time: its transcripts may set the engine's propagation delay.
		name := filepath.Join(dir, strings.NewReplacer("/", "-", ".md", "").Replace(f)+".txtar")
		if err := os.WriteFile(name, script(blocks), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Run(f, func(t *testing.T) { testscript.Run(t, scriptParams(t, []string{name})) })
	}
	scripts, err := filepath.Glob("testdata/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("testdata", func(t *testing.T) { testscript.Run(t, scriptParams(t, scripts)) })
	fmt.Printf("transcripts: %d commands checked\n", checked.Load())

	if os.Getenv("KEYROTOR_UPDATE_TRANSCRIPTS") == "1" {
		for f, blocks := range docs {
			if err := updateTranscripts(filepath.Join(root, f), blocks); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// updateTranscripts writes this run's outputs into the document's transcripts.
func updateTranscripts(path string, blocks []block) error {
	text, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	lines := strings.Split(string(text), "\n")
	capturedMu.Lock()
	defer capturedMu.Unlock()
	for bi := len(blocks) - 1; bi >= 0; bi-- {
		b := blocks[bi]
		var body []string
		for i, c := range b.cmds {
			out, ok := captured[captureKey(b.file, b.line, i)]
			if !ok {
				return fmt.Errorf("%s:%d: command %d did not run; nothing updated", b.file, b.line, i)
			}
			body = append(body, "$ keyrotor "+quoteArgs(c.args))
			body = append(body, strings.Split(strings.TrimRight(out, "\n"), "\n")...)
			if c.exit != 0 {
				body = append(body, "$ echo $?", strconv.Itoa(c.exit))
			}
		}
		lines = append(lines[:b.start], append(body, lines[b.end:]...)...)
	}
	return os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644)
}

func TestNormalizingKeepsWhatATranscriptClaims(t *testing.T) {
	a := "VerifyKey Task 3.16s retries 2 (KeyNotYetValid ×2)\nrotated s3-signer: new access key AKIAAAAAAAAAAAAAAAAA is in /keyrotor/s3-signer (version 1), verified 3.1s after its creation\nold key AKIABBBBBBBBBBBBBBBB kept inactive\n11 states, 13 state transitions, 8 Lambda invocations, 13.3s\n"
	same := "VerifyKey Task 2.01s retries 1 (KeyNotYetValid)\nrotated s3-signer: new access key AKIACCCCCCCCCCCCCCCC is in /keyrotor/s3-signer (version 1), verified 2.9s after its creation\nold key AKIADDDDDDDDDDDDDDDD kept inactive   \n11 states, 12 state transitions, 7 Lambda invocations, 12.1s\n"
	none := strings.Replace(strings.Replace(same, " retries 1 (KeyNotYetValid)", "", 1), "12 state transitions, 7 Lambda", "11 state transitions, 6 Lambda", 1)
	for _, b := range []string{same, none} {
		if normalize(a) != normalize(b) {
			t.Errorf("two runs of one transcript differ after normalizing:\n%s\n%s", normalize(a), normalize(b))
		}
	}
	for name, drifted := range map[string]string{
		"another version":    strings.Replace(a, "version 1", "version 2", 1),
		"the same key twice": strings.Replace(a, "AKIABBBBBBBBBBBBBBBB", "AKIAAAAAAAAAAAAAAAAA", 1),
		"a line gone":        strings.Replace(a, "old key AKIABBBBBBBBBBBBBBBB kept inactive\n", "", 1),
		"another count":      strings.Replace(a, "11 states", "10 states", 1),
		"another retry":      strings.Replace(a, "KeyNotYetValid ×2", "Throttled ×2", 1),
		"another word":       strings.Replace(a, "kept inactive", "deleted", 1),
	} {
		if normalize(a) == normalize(drifted) {
			t.Errorf("%s: a drifted transcript still matches", name)
		}
	}
}
