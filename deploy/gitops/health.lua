-- Argo CD resource health of every pveontap.io kind. The controller writes the conventions kstatus reads too:
-- status.observedGeneration, a Ready condition, and Reconciling / Stalled present only while they are True.
-- A Stalled object failed permanently and waits for a spec change (Degraded); anything the controller has not
-- yet seen, or is still working on or retrying, is Progressing; Ready=True is Healthy.
local hs = { status = "Progressing", message = "Waiting for the pve-ontap-controller to report status" }
if obj.status == nil then
  return hs
end
local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.message = "Waiting for the pve-ontap-controller to observe generation " .. tostring(generation)
  return hs
end
local conditions = {}
if obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    conditions[c.type] = c
  end
end
local function text(c)
  if c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return c.reason or ""
end
if conditions.Stalled ~= nil and conditions.Stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = text(conditions.Stalled)
elseif conditions.Ready ~= nil and conditions.Ready.status == "True" then
  hs.status = "Healthy"
  hs.message = text(conditions.Ready)
elseif conditions.Reconciling ~= nil and conditions.Reconciling.status == "True" then
  hs.message = text(conditions.Reconciling)
elseif conditions.Ready ~= nil then
  hs.message = text(conditions.Ready)
end
return hs
