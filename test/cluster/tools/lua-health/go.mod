// Wrapper module: the Lua interpreter Argo CD embeds (its go.mod pins gopher-lua v1.1.2), to run our health check
// as Argo CD would. main.go is ours; nothing from Argo CD is copied.
module collab-operator.local/testbin/lua-health

go 1.26.0

require github.com/yuin/gopher-lua v1.1.2
