// lua-health runs an Argo CD resource health script the way Argo CD does (util/lua/lua.go in argoproj/argo-cd):
// with the gopher-lua version Argo CD embeds, the resource as the global `obj`, numbers as Lua numbers, and, unless
// -open-libs is given, only the package, base and table libraries (argocd-cm's default, useOpenLibs unset: no
// string, math or os). It prints what the script returned as JSON: {"status": ..., "message": ...}.
//
//	lua-health [-open-libs] health.lua object.json [object.json ...]   one JSON line per object
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"context"

	lua "github.com/yuin/gopher-lua"
)

// The statuses Argo CD accepts from a script; anything else becomes Unknown (isValidHealthStatusCode).
var valid = map[string]bool{"Healthy": true, "Progressing": true, "Degraded": true, "Suspended": true, "Missing": true, "Unknown": true}

type verdict struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

func toLua(L *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case bool:
		return lua.LBool(x)
	case float64:
		return lua.LNumber(x)
	case string:
		return lua.LString(x)
	case []any:
		t := L.CreateTable(len(x), 0)
		for _, item := range x {
			t.Append(toLua(L, item))
		}
		return t
	case map[string]any:
		t := L.CreateTable(0, len(x))
		for k, item := range x {
			t.RawSetH(lua.LString(k), toLua(L, item))
		}
		return t
	}
	return lua.LNil
}

func run(script string, object map[string]any, openLibs bool) (verdict, error) {
	L := lua.NewState(lua.Options{SkipOpenLibs: !openLibs})
	defer L.Close()
	if !openLibs {
		for name, open := range map[string]lua.LGFunction{lua.LoadLibName: lua.OpenPackage, lua.BaseLibName: lua.OpenBase, lua.TabLibName: lua.OpenTable} {
			if err := L.CallByParam(lua.P{Fn: L.NewFunction(open), Protect: true}, lua.LString(name)); err != nil {
				return verdict{}, err
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second) // Argo CD's limit per script run
	defer cancel()
	L.SetContext(ctx)
	L.SetGlobal("obj", toLua(L, object))
	if err := L.DoString(script); err != nil {
		return verdict{}, err
	}
	table, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		return verdict{}, fmt.Errorf("expect table output from Lua script, not %s", L.Get(-1).Type())
	}
	out := verdict{Status: lua.LVAsString(table.RawGetString("status")), Message: lua.LVAsString(table.RawGetString("message"))}
	if !valid[out.Status] {
		return verdict{Status: "Unknown", Message: "Lua returned an invalid health status"}, nil
	}
	return out, nil
}

func main() {
	openLibs := flag.Bool("open-libs", false, "load every standard library (argocd-cm useOpenLibs: true)")
	flag.Parse()
	if flag.NArg() < 2 {
		fmt.Fprintln(os.Stderr, "usage: lua-health [-open-libs] health.lua object.json...")
		os.Exit(2)
	}
	script, err := os.ReadFile(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	failed := false
	for _, path := range flag.Args()[1:] {
		var object map[string]any
		data, err := os.ReadFile(path)
		if err == nil {
			err = json.Unmarshal(data, &object)
		}
		var out any
		if err == nil {
			out, err = run(string(script), object, *openLibs)
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
