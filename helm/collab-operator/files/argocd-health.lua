-- Argo CD health for collabllm.io/CollabTrainingJob (argocd-cm: resource.customizations.health.collabllm.io_CollabTrainingJob).
-- The status is in kstatus format: status.observedGeneration, Reconciling and Stalled conditions, plus the job's
-- own terminal conditions Succeeded and Failed, Suspended, and BudgetExceeded (docs/operator.md, docs/gitops.md).
-- Only Lua's base library is used, so it runs with argocd-cm's default (useOpenLibs unset: no string, math, os).
local hs = {}

local function conditions()
  local byType = {}
  if obj.status ~= nil and obj.status.conditions ~= nil then
    for _, c in ipairs(obj.status.conditions) do
      byType[c.type] = c
    end
  end
  return byType
end

local function text(c, fallback)
  if c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return fallback
end

if obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Pending deletion"
  return hs
end
if obj.status == nil or obj.status.observedGeneration == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe the job"
  return hs
end
if obj.metadata.generation ~= nil and obj.status.observedGeneration < obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe the latest spec (generation " .. obj.metadata.generation .. ")"
  return hs
end

local c = conditions()
local function isTrue(t)
  return c[t] ~= nil and c[t].status == "True"
end
local function because(t, fallback)
  return (c[t].reason or t) .. ": " .. text(c[t], fallback)
end

if isTrue("Succeeded") then
  hs.status = "Healthy"
  hs.message = text(c["Succeeded"], "Training succeeded")
elseif isTrue("Failed") then
  hs.status = "Degraded"
  hs.message = because("Failed", "the job failed")
elseif isTrue("Stalled") then
  -- Cannot progress without a human: a missing Secret or claim, a spec the operator cannot use, a refused child.
  hs.status = "Degraded"
  hs.message = because("Stalled", "the job is stalled")
elseif isTrue("BudgetExceeded") then
  -- Its gateways refuse every further LLM call until the budget is raised; by default its pods are let go meanwhile.
  hs.status = "Degraded"
  hs.message = because("BudgetExceeded", "the token budget is spent")
elseif isTrue("Suspended") or obj.status.phase == "Suspended" then
  hs.status = "Suspended"
  hs.message = text(c["Suspended"] or {}, "The job is suspended (spec.suspend)")
elseif isTrue("Queued") then
  -- Waiting in a Kueue queue for quota: progressing (the message is Kueue's own).
  hs.status = "Progressing"
  hs.message = because("Queued", "pods wait in the queue")
elseif isTrue("WaitingForCapacity") then
  -- Waiting for nodes: progressing as far as the job can tell (the message carries an autoscaler's word, if any).
  hs.status = "Progressing"
  hs.message = because("WaitingForCapacity", "pods wait for capacity")
elseif c["PodsScheduled"] ~= nil and c["PodsScheduled"].status == "False" then
  -- Waiting for capacity: progressing as far as the job can tell (an autoscaler may add nodes).
  hs.status = "Progressing"
  hs.message = because("PodsScheduled", "pods wait to be scheduled")
else
  hs.status = "Progressing"
  hs.message = text(c["Reconciling"] or {}, obj.status.phase or "Pending")
end
return hs
