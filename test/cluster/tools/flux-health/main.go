// flux-health evaluates the healthCheckExprs of a Flux Kustomization on objects the way kustomize-controller does
// (RFC-0009, fluxcd/pkg runtime/cel): a status.observedGeneration that differs from metadata.generation is
// InProgress; otherwise inProgress, failed and current are tried in that order, each parsed (not compiled) in
// Flux's CEL environment with the object's top-level fields as variables, and the first true one wins; none true is
// InProgress; an evaluation error is an error (Flux's health check fails on it).
//
//	flux-health kustomization.yaml object.json [object.json ...]   one JSON line per object
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
	"sigs.k8s.io/yaml"
)

type healthCheck struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	InProgress string `json:"inProgress"`
	Failed     string `json:"failed"`
	Current    string `json:"current"`
}

func program(expr string) (cel.Program, error) {
	env, err := cel.NewEnv(
		cel.HomogeneousAggregateLiterals(),
		cel.EagerlyValidateDeclarations(true),
		cel.DefaultUTCTimeZone(true),
		cel.CrossTypeNumericComparisons(true),
		cel.OptionalTypes(),
		ext.Strings(),
		ext.Sets(),
		ext.Encoders(),
	)
	if err != nil {
		return nil, err
	}
	ast, issues := env.Parse(expr)
	if issues != nil && issues.Err() != nil {
		return nil, issues.Err()
	}
	return env.Program(ast, cel.EvalOptions(cel.OptOptimize), cel.InterruptCheckFrequency(100))
}

func evaluate(check healthCheck, object map[string]any) (string, error) {
	status, _ := object["status"].(map[string]any)
	metadata, _ := object["metadata"].(map[string]any)
	if observed, ok := status["observedGeneration"].(float64); ok {
		if generation, ok := metadata["generation"].(float64); ok && observed != generation {
			return "InProgress", nil
		}
	}
	for _, e := range []struct{ expr, status string }{
		{check.InProgress, "InProgress"}, {check.Failed, "Failed"}, {check.Current, "Current"},
	} {
		if e.expr == "" {
			continue
		}
		prog, err := program(e.expr)
		if err != nil {
			return "", err
		}
		val, _, err := prog.ContextEval(context.Background(), object)
		if err != nil {
			return "", fmt.Errorf("%s: %w", e.status, err)
		}
		result, ok := val.(types.Bool)
		if !ok {
			return "", fmt.Errorf("%s: not a boolean", e.status)
		}
		if result {
			return e.status, nil
		}
	}
	return "InProgress", nil
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: flux-health kustomization.yaml object.json...")
		os.Exit(2)
	}
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var checks []healthCheck
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var k struct {
			Kind string `json:"kind"`
			Spec struct {
				HealthCheckExprs []healthCheck `json:"healthCheckExprs"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal([]byte(doc), &k); err == nil && k.Kind == "Kustomization" {
			checks = append(checks, k.Spec.HealthCheckExprs...)
		}
	}
	failed := false
	for _, path := range os.Args[2:] {
		var object map[string]any
		raw, err := os.ReadFile(path)
		if err == nil {
			err = json.Unmarshal(raw, &object)
		}
		out := map[string]string{}
		if err == nil {
			err = fmt.Errorf("no healthCheckExprs for %v %v", object["apiVersion"], object["kind"])
			for _, c := range checks {
				if c.APIVersion == object["apiVersion"] && c.Kind == object["kind"] {
					out["status"], err = evaluate(c, object)
				}
			}
		}
		if err != nil {
			failed = true
			out = map[string]string{"error": err.Error()}
		}
		line, _ := json.Marshal(out)
		fmt.Println(string(line))
	}
	if failed {
		os.Exit(1)
	}
}
