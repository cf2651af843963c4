// kstatus prints what sigs.k8s.io/cli-utils' kstatus (the library Flux's health checks and `kubectl wait`-style
// tools build on) concludes about each object: {"status": "Current|InProgress|Failed|Terminating|...", "message"}.
//
//	kstatus object.json [object.json ...]    one JSON line per object
//	kubectl get ctj NAME -o json | kstatus -  a live object
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

func read(path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(path)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: kstatus object.json... (or - for stdin)")
		os.Exit(2)
	}
	failed := false
	for _, path := range os.Args[1:] {
		var out any
		data, err := read(path)
		u := &unstructured.Unstructured{}
		if err == nil {
			err = u.UnmarshalJSON(data)
		}
		var result *status.Result
		if err == nil {
			result, err = status.Compute(u)
		}
		if err != nil {
			failed = true
			out = map[string]string{"error": err.Error()}
		} else {
			out = map[string]string{"status": result.Status.String(), "message": result.Message}
		}
		line, _ := json.Marshal(out)
		fmt.Println(string(line))
	}
	if failed {
		os.Exit(1)
	}
}
