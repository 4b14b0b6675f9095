// The only Python globals a PyTorch file may name, and what each becomes: inert data, never code.
namespace Recurrent.IO.Torch;

/// <summary>
/// Resolves the <c>module.name</c> of a pickle GLOBAL/STACK_GLOBAL against a fixed allowlist, like
/// <c>torch.load(weights_only=True)</c>. dtypes become <see cref="TorchDType"/> values; every other allowed
/// name becomes a <see cref="TorchGlobal"/> that the unpickler interprets by name. Anything else is refused.
/// </summary>
internal static class TorchAllowlist
{
    public const string OrderedDict = "collections.OrderedDict";
    public const string Counter = "collections.Counter";
    public const string Set = "builtins.set";
    public const string FrozenSet = "builtins.frozenset";
    public const string ByteArray = "builtins.bytearray";
    public const string Complex = "builtins.complex";
    public const string CodecsEncode = "_codecs.encode";
    public const string Size = "torch.Size";
    public const string Device = "torch.device";
    public const string Tensor = "torch.Tensor";
    public const string Parameter = "torch.nn.parameter.Parameter";
    public const string RebuildTensor = "torch._utils._rebuild_tensor";
    public const string RebuildTensorV2 = "torch._utils._rebuild_tensor_v2";
    public const string RebuildTensorV3 = "torch._utils._rebuild_tensor_v3";
    public const string RebuildParameter = "torch._utils._rebuild_parameter";
    public const string RebuildParameterWithState = "torch._utils._rebuild_parameter_with_state";
    public const string RebuildFromTypeV2 = "torch._tensor._rebuild_from_type_v2";
    public const string UntypedStorage = "torch.UntypedStorage";
    public const string TypedStorage = "torch.TypedStorage";

    private static readonly Dictionary<string, string> Canonical = new(StringComparer.Ordinal)
    {
        [OrderedDict] = OrderedDict,
        [Counter] = Counter,
        [Set] = Set,
        [FrozenSet] = FrozenSet,
        [ByteArray] = ByteArray,
        [Complex] = Complex,
        [CodecsEncode] = CodecsEncode,
        [Size] = Size,
        [Device] = Device,
        [Tensor] = Tensor,
        ["torch._tensor.Tensor"] = Tensor,
        [Parameter] = Parameter,
        ["torch.nn.Parameter"] = Parameter,
        [RebuildTensor] = RebuildTensor,
        [RebuildTensorV2] = RebuildTensorV2,
        [RebuildTensorV3] = RebuildTensorV3,
        [RebuildParameter] = RebuildParameter,
        [RebuildParameterWithState] = RebuildParameterWithState,
        [RebuildFromTypeV2] = RebuildFromTypeV2,
        [UntypedStorage] = UntypedStorage,
        ["torch.storage.UntypedStorage"] = UntypedStorage,
        ["torch._UntypedStorage"] = UntypedStorage,
        ["torch.storage._UntypedStorage"] = UntypedStorage,
        [TypedStorage] = TypedStorage,
        ["torch.storage.TypedStorage"] = TypedStorage,
        ["torch.storage._TypedStorage"] = TypedStorage,
    };

    /// <summary>The tensor rebuild functions that <c>_rebuild_from_type_v2</c> may wrap.</summary>
    public static bool IsTensorRebuildFunction(string fullName) => fullName is RebuildTensor or RebuildTensorV2
        or RebuildTensorV3 or RebuildParameter or RebuildParameterWithState;

    /// <summary>The dtype a legacy storage class (<c>torch.FloatStorage</c>, canonical form) stands for.</summary>
    public static bool TryGetStorageDType(TorchGlobal storageType, out TorchDType dtype, out bool untyped)
    {
        untyped = storageType.FullName == UntypedStorage;
        if (untyped)
        {
            dtype = TorchDType.UInt8;
            return true;
        }
        return TorchDTypes.TryFromStorageClass(storageType.Name, out dtype) && storageType.Module == "torch";
    }

    /// <summary>Resolves a global or throws <see cref="TorchUnsupportedGlobalException"/>.</summary>
    public static object Resolve(string module, string name, string opcode, string context)
    {
        // Protocol 0-2 pickles written by Python 2, or by Python 3 with fix_imports, use Python 2 names.
        module = module switch
        {
            "__builtin__" => "builtins",
            "copy_reg" => "copyreg",
            _ => module,
        };
        string full = module + "." + name;
        if (Canonical.TryGetValue(full, out var canonical))
        {
            int dot = canonical.LastIndexOf('.');
            return new TorchGlobal(canonical[..dot], canonical[(dot + 1)..]);
        }
        if (module == "torch" && TorchDTypes.TryFromTorchAttribute(name, out var dtype))
            return dtype;
        if ((module == "torch" || module == "torch.cuda") && TorchDTypes.TryFromStorageClass(name, out _))
            return new TorchGlobal("torch", name); // storage locations are ignored: cuda storages load like cpu ones

        string why = module == "torch" || module.StartsWith("torch.", StringComparison.Ordinal)
            ? "this reader supports only dense tensors of float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8 and bool, in plain containers"
            : "only the globals needed to rebuild containers, scalars and tensors are allowed, as with torch.load(weights_only=True)";
        throw new TorchUnsupportedGlobalException(full,
            $"Unsupported global: {opcode} {full} was not an allowed global ({context}). The PyTorch reader never executes anything from the file; {why}.");
    }
}
