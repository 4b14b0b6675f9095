// The in-memory ONNX model the exporter builds (a small subset of onnx.proto: the messages a traced inference graph
// needs) and its protobuf encoding. Field numbers are ONNX's (onnx/onnx.proto); the encoding goes through
// Google.Protobuf's CodedOutputStream, written by hand: no generated code, no reflection, so the package stays
// trimming- and NativeAOT-safe.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Google.Protobuf;

namespace Recurrent.Onnx.Proto;

/// <summary>ONNX element types (TensorProto.DataType) the exporter uses.</summary>
internal enum OnnxElementType
{
    Float = 1,
    Int8 = 3,
    Int32 = 6,
    Int64 = 7,
    Bool = 9,
    Double = 11,
}

/// <summary>An attribute of a node (AttributeProto): one of int, float, string, ints, floats, strings.</summary>
internal sealed class OnnxAttribute
{
    private OnnxAttribute(string name) => Name = name;

    public string Name { get; }
    public long? Int { get; private init; }
    public float? Float { get; private init; }
    public string? String { get; private init; }
    public long[]? Ints { get; private init; }
    public float[]? Floats { get; private init; }
    public string[]? Strings { get; private init; }
    public OnnxTensor? Tensor { get; private init; }

    public static OnnxAttribute Of(string name, long value) => new(name) { Int = value };
    public static OnnxAttribute Of(string name, float value) => new(name) { Float = value };
    public static OnnxAttribute Of(string name, string value) => new(name) { String = value };
    public static OnnxAttribute Of(string name, long[] values) => new(name) { Ints = values };
    public static OnnxAttribute Of(string name, float[] values) => new(name) { Floats = values };
    public static OnnxAttribute Of(string name, string[] values) => new(name) { Strings = values };
    public static OnnxAttribute Of(string name, OnnxTensor value) => new(name) { Tensor = value };

    // AttributeProto: name = 1, f = 2, i = 3, s = 4, t = 5, floats = 7, ints = 8, strings = 9, type = 20.
    internal byte[] Encode()
    {
        return Message.Write(o =>
        {
            o.WriteTag(1, WireFormat.WireType.LengthDelimited); o.WriteString(Name);
            int type;
            if (Int is { } i) { o.WriteTag(3, WireFormat.WireType.Varint); o.WriteInt64(i); type = 2; }
            else if (Float is { } f) { o.WriteTag(2, WireFormat.WireType.Fixed32); o.WriteFloat(f); type = 1; }
            else if (String is { } s) { o.WriteTag(4, WireFormat.WireType.LengthDelimited); o.WriteBytes(ByteString.CopyFromUtf8(s)); type = 3; }
            else if (Tensor is { } t) { Message.WriteMessage(o, 5, t.Encode()); type = 4; }
            else if (Ints is { } ints)
            {
                foreach (var v in ints) { o.WriteTag(8, WireFormat.WireType.Varint); o.WriteInt64(v); }
                type = 7;
            }
            else if (Floats is { } floats)
            {
                foreach (var v in floats) { o.WriteTag(7, WireFormat.WireType.Fixed32); o.WriteFloat(v); }
                type = 6;
            }
            else if (Strings is { } strings)
            {
                foreach (var v in strings) { o.WriteTag(9, WireFormat.WireType.LengthDelimited); o.WriteBytes(ByteString.CopyFromUtf8(v)); }
                type = 8;
            }
            else throw new InvalidOperationException($"attribute '{Name}' has no value");
            o.WriteTag(20, WireFormat.WireType.Varint); o.WriteEnum(type);
        });
    }
}

/// <summary>A tensor value (TensorProto) with its data as little-endian raw bytes.</summary>
internal sealed class OnnxTensor(string name, OnnxElementType type, long[] dims, byte[] rawData)
{
    public string Name { get; } = name;
    public OnnxElementType Type { get; } = type;
    public long[] Dims { get; } = dims;
    public byte[] RawData { get; } = rawData;

    public static OnnxTensor FromFloats(string name, long[] dims, ReadOnlySpan<float> data) => new(name, OnnxElementType.Float, dims, Bytes(data));
    public static OnnxTensor FromDoubles(string name, long[] dims, ReadOnlySpan<double> data) => new(name, OnnxElementType.Double, dims, Bytes(data));
    public static OnnxTensor FromInt64s(string name, long[] dims, ReadOnlySpan<long> data) => new(name, OnnxElementType.Int64, dims, Bytes(data));
    public static OnnxTensor FromInt8s(string name, long[] dims, ReadOnlySpan<sbyte> data) => new(name, OnnxElementType.Int8, dims, Bytes(data));

    private static byte[] Bytes<T>(ReadOnlySpan<T> data) where T : unmanaged
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("ONNX raw tensor data is little-endian; this machine is big-endian");
        long bytes = (long)data.Length * Unsafe.SizeOf<T>();
        if (bytes > Array.MaxLength) throw OnnxExportException.TooLarge("one weight takes", bytes);
        return MemoryMarshal.AsBytes(data).ToArray();
    }

    // TensorProto: dims = 1, data_type = 2, name = 8, raw_data = 9.
    internal byte[] Encode() => Message.Write(o =>
    {
        foreach (var d in Dims) { o.WriteTag(1, WireFormat.WireType.Varint); o.WriteInt64(d); }
        o.WriteTag(2, WireFormat.WireType.Varint); o.WriteInt32((int)Type);
        if (Name.Length > 0) { o.WriteTag(8, WireFormat.WireType.LengthDelimited); o.WriteString(Name); }
        o.WriteTag(9, WireFormat.WireType.LengthDelimited); o.WriteBytes(UnsafeByteOperations.UnsafeWrap(RawData));
    });
}

/// <summary>A node (NodeProto): op type, input and output value names ("" for an omitted optional input), attributes.</summary>
internal sealed class OnnxNode(string opType, string name, string[] inputs, string[] outputs, List<OnnxAttribute> attributes)
{
    public string OpType { get; } = opType;
    public string Name { get; } = name;
    public string[] Inputs { get; } = inputs;
    public string[] Outputs { get; } = outputs;
    public List<OnnxAttribute> Attributes { get; } = attributes;
    /// <summary>The operator set domain ("" for ONNX's own; "com.microsoft" for ONNX Runtime's contrib ops).</summary>
    public string Domain { get; init; } = "";

    // NodeProto: input = 1, output = 2, name = 3, op_type = 4, attribute = 5, domain = 7.
    internal byte[] Encode() => Message.Write(o =>
    {
        foreach (var i in Inputs) { o.WriteTag(1, WireFormat.WireType.LengthDelimited); o.WriteString(i); }
        foreach (var x in Outputs) { o.WriteTag(2, WireFormat.WireType.LengthDelimited); o.WriteString(x); }
        o.WriteTag(3, WireFormat.WireType.LengthDelimited); o.WriteString(Name);
        o.WriteTag(4, WireFormat.WireType.LengthDelimited); o.WriteString(OpType);
        foreach (var a in Attributes) Message.WriteMessage(o, 5, a.Encode());
        if (Domain.Length > 0) { o.WriteTag(7, WireFormat.WireType.LengthDelimited); o.WriteString(Domain); }
    });
}

/// <summary>A graph input or output (ValueInfoProto) with a tensor type; each dim is a number or a symbolic name.</summary>
internal sealed class OnnxValueInfo(string name, OnnxElementType type, object[] dims)
{
    public string Name { get; } = name;
    public OnnxElementType Type { get; } = type;
    /// <summary>Each entry a <see cref="long"/> (dim_value) or a <see cref="string"/> (dim_param).</summary>
    public object[] Dims { get; } = dims;

    // ValueInfoProto: name = 1, type = 2. TypeProto: tensor_type = 1. TypeProto.Tensor: elem_type = 1, shape = 2.
    // TensorShapeProto: dim = 1. Dimension: dim_value = 1, dim_param = 2.
    internal byte[] Encode() => Message.Write(o =>
    {
        o.WriteTag(1, WireFormat.WireType.LengthDelimited); o.WriteString(Name);
        var shape = Message.Write(s =>
        {
            foreach (var d in Dims)
                Message.WriteMessage(s, 1, Message.Write(dim =>
                {
                    if (d is long v) { dim.WriteTag(1, WireFormat.WireType.Varint); dim.WriteInt64(v); }
                    else { dim.WriteTag(2, WireFormat.WireType.LengthDelimited); dim.WriteString((string)d); }
                }));
        });
        var tensorType = Message.Write(t =>
        {
            t.WriteTag(1, WireFormat.WireType.Varint); t.WriteInt32((int)Type);
            Message.WriteMessage(t, 2, shape);
        });
        Message.WriteMessage(o, 2, Message.Write(tp => Message.WriteMessage(tp, 1, tensorType)));
    });
}

/// <summary>A model (ModelProto) with one graph (GraphProto) and the default-domain opset.</summary>
internal sealed class OnnxModel
{
    public required long IrVersion { get; init; }
    public required long Opset { get; init; }
    public required string GraphName { get; init; }
    public string ProducerName { get; init; } = "Recurrent.Onnx";
    public string ProducerVersion { get; init; } = "";
    public string DocString { get; init; } = "";
    public List<OnnxNode> Nodes { get; } = new();
    public List<OnnxTensor> Initializers { get; } = new();
    public List<OnnxValueInfo> Inputs { get; } = new();
    public List<OnnxValueInfo> Outputs { get; } = new();
    public List<KeyValuePair<string, string>> Metadata { get; } = new();
    /// <summary>Operator sets of other domains the nodes use (domain, version), beside the default domain's <see cref="Opset"/>.</summary>
    public List<KeyValuePair<string, long>> OtherOpsets { get; } = new();

    // GraphProto: node = 1, name = 2, initializer = 5, input = 11, output = 12.
    private byte[] EncodeGraph() => Message.Write(o =>
    {
        foreach (var n in Nodes) Message.WriteMessage(o, 1, n.Encode());
        o.WriteTag(2, WireFormat.WireType.LengthDelimited); o.WriteString(GraphName);
        foreach (var t in Initializers) Message.WriteMessage(o, 5, t.Encode());
        foreach (var i in Inputs) Message.WriteMessage(o, 11, i.Encode());
        foreach (var x in Outputs) Message.WriteMessage(o, 12, x.Encode());
    });

    // ModelProto: ir_version = 1, producer_name = 2, producer_version = 3, doc_string = 6, graph = 7, opset_import = 8,
    // metadata_props = 14. OperatorSetIdProto: domain = 1, version = 2. StringStringEntryProto: key = 1, value = 2.
    /// <summary>The serialized model (the bytes of a .onnx file).</summary>
    public byte[] ToBytes() => Message.Write(o =>
    {
        o.WriteTag(1, WireFormat.WireType.Varint); o.WriteInt64(IrVersion);
        o.WriteTag(2, WireFormat.WireType.LengthDelimited); o.WriteString(ProducerName);
        o.WriteTag(3, WireFormat.WireType.LengthDelimited); o.WriteString(ProducerVersion);
        if (DocString.Length > 0) { o.WriteTag(6, WireFormat.WireType.LengthDelimited); o.WriteString(DocString); }
        Message.WriteMessage(o, 7, EncodeGraph());
        Message.WriteMessage(o, 8, Message.Write(op =>
        {
            op.WriteTag(1, WireFormat.WireType.LengthDelimited); op.WriteString("");
            op.WriteTag(2, WireFormat.WireType.Varint); op.WriteInt64(Opset);
        }));
        foreach (var (domain, version) in OtherOpsets)
            Message.WriteMessage(o, 8, Message.Write(op =>
            {
                op.WriteTag(1, WireFormat.WireType.LengthDelimited); op.WriteString(domain);
                op.WriteTag(2, WireFormat.WireType.Varint); op.WriteInt64(version);
            }));
        foreach (var (k, v) in Metadata)
            Message.WriteMessage(o, 14, Message.Write(e =>
            {
                e.WriteTag(1, WireFormat.WireType.LengthDelimited); e.WriteString(k);
                e.WriteTag(2, WireFormat.WireType.LengthDelimited); e.WriteString(v);
            }));
    });
}

/// <summary>Encoding helpers: a message is written into its own buffer, then embedded as a length-delimited field.</summary>
internal static class Message
{
    public static byte[] Write(Action<CodedOutputStream> body)
    {
        using var ms = new MemoryStream();
        using (var o = new CodedOutputStream(ms, leaveOpen: true))
        {
            body(o);
            o.Flush();
        }
        return ms.ToArray();
    }

    public static void WriteMessage(CodedOutputStream o, int field, byte[] message)
    {
        o.WriteTag(field, WireFormat.WireType.LengthDelimited);
        o.WriteBytes(UnsafeByteOperations.UnsafeWrap(message));
    }
}
