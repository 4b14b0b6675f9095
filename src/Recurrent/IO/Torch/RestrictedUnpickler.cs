// A restricted pickle virtual machine (protocols 0-5) that builds only inert data: containers, scalars,
// tensors. It never imports or calls anything named in the file.
using System.Globalization;
using System.Numerics;
using System.Text;

namespace Recurrent.IO.Torch;

/// <summary>
/// Unpickles one pickle from a <see cref="PickleInput"/>. Globals are resolved through
/// <see cref="TorchAllowlist"/> and interpreted here by name (OrderedDict, set, torch.Size, the tensor
/// rebuild functions...); persistent ids are handed to the caller, which turns them into storages.
/// The machine is iterative, so nesting depth costs no native stack; the caller validates the finished
/// tree (<see cref="TorchTree.Validate"/>).
/// </summary>
internal sealed class RestrictedUnpickler
{
    // Opcodes, as in CPython's Lib/pickle.py.
    private const byte MARK = (byte)'(', STOP = (byte)'.', POP = (byte)'0', POP_MARK = (byte)'1', DUP = (byte)'2',
        FLOAT = (byte)'F', INT = (byte)'I', BININT = (byte)'J', BININT1 = (byte)'K', LONG = (byte)'L', BININT2 = (byte)'M',
        NONE = (byte)'N', PERSID = (byte)'P', BINPERSID = (byte)'Q', REDUCE = (byte)'R', STRING = (byte)'S',
        BINSTRING = (byte)'T', SHORT_BINSTRING = (byte)'U', UNICODE = (byte)'V', BINUNICODE = (byte)'X',
        APPEND = (byte)'a', BUILD = (byte)'b', GLOBAL = (byte)'c', DICT = (byte)'d', EMPTY_DICT = (byte)'}',
        APPENDS = (byte)'e', GET = (byte)'g', BINGET = (byte)'h', INST = (byte)'i', LONG_BINGET = (byte)'j',
        LIST = (byte)'l', EMPTY_LIST = (byte)']', OBJ = (byte)'o', PUT = (byte)'p', BINPUT = (byte)'q',
        LONG_BINPUT = (byte)'r', SETITEM = (byte)'s', TUPLE = (byte)'t', EMPTY_TUPLE = (byte)')', SETITEMS = (byte)'u',
        BINFLOAT = (byte)'G',
        PROTO = 0x80, NEWOBJ = 0x81, EXT1 = 0x82, EXT2 = 0x83, EXT4 = 0x84, TUPLE1 = 0x85, TUPLE2 = 0x86, TUPLE3 = 0x87,
        NEWTRUE = 0x88, NEWFALSE = 0x89, LONG1 = 0x8a, LONG4 = 0x8b,
        BINBYTES = (byte)'B', SHORT_BINBYTES = (byte)'C',
        SHORT_BINUNICODE = 0x8c, BINUNICODE8 = 0x8d, BINBYTES8 = 0x8e, EMPTY_SET = 0x8f, ADDITEMS = 0x90,
        FROZENSET = 0x91, NEWOBJ_EX = 0x92, STACK_GLOBAL = 0x93, MEMOIZE = 0x94, FRAME = 0x95,
        BYTEARRAY8 = 0x96, NEXT_BUFFER = 0x97, READONLY_BUFFER = 0x98;

    private const int MaxGlobalNameBytes = 1024;
    private const int MaxNumberTextBytes = 4300; // CPython's default limit on int <-> str digits

    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false);

    private readonly PickleInput _in;
    private readonly TorchReaderOptions _options;
    private readonly Func<TorchTuple, object>? _persistentLoad;
    private readonly AllocationMeter? _meter;
    private readonly List<object?> _stack = new();
    private readonly List<int> _marks = new();
    private readonly Dictionary<long, object?> _memo = new();
    private readonly HashSet<TorchDict> _built = new(ReferenceEqualityComparer.Instance);
    private long _opOffset;
    private byte _op;

    public RestrictedUnpickler(PickleInput input, TorchReaderOptions options, Func<TorchTuple, object>? persistentLoad,
        AllocationMeter? meter = null)
    {
        _in = input;
        _options = options;
        _persistentLoad = persistentLoad;
        _meter = meter;
    }

    /// <summary>Runs the pickle to its STOP and returns the object it built.</summary>
    public object? Load()
    {
        for (long ops = 1; ; ops++)
        {
            _opOffset = _in.Position;
            _op = (byte)_in.ReadByte();
            if ((ops & 1023) == 0 && _meter is not null) // each opcode allocates a bounded amount; large ones reserve first
                _meter.Check($"{_in.Name}: unpickling (offset {_opOffset})");
            switch (_op)
            {
                case PROTO:
                {
                    int protocol = _in.ReadByte();
                    if (protocol > 5)
                        throw Fail($"unsupported pickle protocol {protocol}");
                    break;
                }
                case FRAME:
                {
                    ulong length = _in.ReadUInt64();
                    if (length > (ulong)_in.Remaining)
                        throw Fail($"frame of {length} bytes exceeds the {_in.Remaining} bytes left");
                    break;
                }
                case STOP:
                    return Pop();

                // Stack manipulation.
                case MARK: _marks.Add(_stack.Count); break;
                case POP:
                    if (_stack.Count > MarkBase) _stack.RemoveAt(_stack.Count - 1);
                    else PopMark();
                    break;
                case POP_MARK: PopMark(); break;
                case DUP: Push(Peek()); break;

                // Integers, floats, booleans, None.
                case BININT: Push((long)_in.ReadInt32()); break;
                case BININT1: Push((long)_in.ReadByte()); break;
                case BININT2: Push((long)_in.ReadUInt16()); break;
                case LONG1: Push(DecodeLong(_in.ReadByte())); break;
                case LONG4:
                {
                    int n = _in.ReadInt32();
                    if (n < 0)
                        throw Fail($"negative LONG4 length {n}");
                    Push(DecodeLong(n));
                    break;
                }
                case INT: Push(ParseIntLine(allowBool: true)); break;
                case LONG: Push(ParseIntLine(allowBool: false)); break;
                case NONE: Push(null); break;
                case NEWTRUE: Push(true); break;
                case NEWFALSE: Push(false); break;
                case BINFLOAT: Push(_in.ReadDoubleBigEndian()); break;
                case FLOAT: Push(ParseFloatLine()); break;

                // Strings and bytes.
                case BINUNICODE: Push(Utf8.GetString(_in.ReadBytes(_in.ReadUInt32(), "BINUNICODE string"))); break;
                case SHORT_BINUNICODE: Push(Utf8.GetString(_in.ReadBytes(_in.ReadByte(), "SHORT_BINUNICODE string"))); break;
                case BINUNICODE8: Push(Utf8.GetString(_in.ReadBytes(ReadLength8(), "BINUNICODE8 string"))); break;
                case UNICODE: Push(DecodeRawUnicodeEscape(_in.ReadLine(int.MaxValue, "UNICODE"))); break;
                case STRING: Push(Utf8.GetString(DecodeStringLiteral(_in.ReadLine(int.MaxValue, "STRING")))); break;
                case BINSTRING:
                {
                    int n = _in.ReadInt32();
                    if (n < 0)
                        throw Fail($"negative BINSTRING length {n}");
                    Push(Utf8.GetString(_in.ReadBytes(n, "BINSTRING")));
                    break;
                }
                case SHORT_BINSTRING: Push(Utf8.GetString(_in.ReadBytes(_in.ReadByte(), "SHORT_BINSTRING"))); break;
                case BINBYTES: Push(_in.ReadBytes(_in.ReadUInt32(), "BINBYTES")); break;
                case SHORT_BINBYTES: Push(_in.ReadBytes(_in.ReadByte(), "SHORT_BINBYTES")); break;
                case BINBYTES8: Push(_in.ReadBytes(ReadLength8(), "BINBYTES8")); break;
                case BYTEARRAY8: Push(_in.ReadBytes(ReadLength8(), "BYTEARRAY8")); break;
                case NEXT_BUFFER: throw Fail("out-of-band buffers (NEXT_BUFFER) are not supported");
                case READONLY_BUFFER:
                    if (Peek() is not byte[])
                        throw Fail("READONLY_BUFFER on a non-buffer");
                    break;

                // Containers.
                case EMPTY_LIST: Push(new TorchList()); break;
                case EMPTY_DICT: Push(new TorchDict()); break;
                case EMPTY_TUPLE: Push(TorchTuple.Empty); break;
                case EMPTY_SET: Push(new TorchSet(isFrozen: false)); break;
                case LIST:
                {
                    var list = new TorchList();
                    foreach (var item in PopMark())
                        list.Add(item);
                    Push(list);
                    break;
                }
                case DICT:
                {
                    var items = PopMark();
                    if (items.Length % 2 != 0)
                        throw Fail("DICT with an odd number of items");
                    var dict = new TorchDict();
                    for (int i = 0; i < items.Length; i += 2)
                        dict.Set(items[i], items[i + 1]);
                    Push(dict);
                    break;
                }
                case TUPLE: Push(new TorchTuple(PopMark())); break;
                case TUPLE1: Push(new TorchTuple(new[] { Pop() })); break;
                case TUPLE2:
                {
                    var b = Pop();
                    var a = Pop();
                    Push(new TorchTuple(new[] { a, b }));
                    break;
                }
                case TUPLE3:
                {
                    var c = Pop();
                    var b = Pop();
                    var a = Pop();
                    Push(new TorchTuple(new[] { a, b, c }));
                    break;
                }
                case FROZENSET:
                {
                    var set = new TorchSet(isFrozen: true);
                    foreach (var item in PopMark())
                        set.Add(item);
                    Push(set);
                    break;
                }
                case APPEND:
                {
                    var item = Pop();
                    ListTarget().Add(item);
                    break;
                }
                case APPENDS:
                {
                    var items = PopMark();
                    var list = ListTarget();
                    foreach (var item in items)
                        list.Add(item);
                    break;
                }
                case SETITEM:
                {
                    var value = Pop();
                    var key = Pop();
                    DictTarget().Set(key, value);
                    break;
                }
                case SETITEMS:
                {
                    var items = PopMark();
                    if (items.Length % 2 != 0)
                        throw Fail("SETITEMS with an odd number of items");
                    var dict = DictTarget();
                    for (int i = 0; i < items.Length; i += 2)
                        dict.Set(items[i], items[i + 1]);
                    break;
                }
                case ADDITEMS:
                {
                    var items = PopMark();
                    if (Peek() is not TorchSet { IsFrozen: false } set)
                        throw Fail($"ADDITEMS on {PythonRepr.TypeName(Peek())}, expected a set");
                    foreach (var item in items)
                        set.Add(item);
                    break;
                }

                // Memo.
                case PUT: _memo[ParseMemoIndex()] = Peek(); break;
                case BINPUT: _memo[_in.ReadByte()] = Peek(); break;
                case LONG_BINPUT: _memo[_in.ReadUInt32()] = Peek(); break;
                case MEMOIZE: _memo[_memo.Count] = Peek(); break;
                case GET: Push(MemoGet(ParseMemoIndex())); break;
                case BINGET: Push(MemoGet(_in.ReadByte())); break;
                case LONG_BINGET: Push(MemoGet(_in.ReadUInt32())); break;

                // Globals, calls and persistent ids: the only ways a pickle reaches outside itself.
                case GLOBAL:
                {
                    string module = ReadNameLine("GLOBAL module");
                    string name = ReadNameLine("GLOBAL name");
                    Push(TorchAllowlist.Resolve(module, name, "GLOBAL", Where()));
                    break;
                }
                case STACK_GLOBAL:
                {
                    var name = Pop();
                    var module = Pop();
                    if (module is not string m || name is not string n)
                        throw Fail("STACK_GLOBAL needs two str");
                    if (m.Length > MaxGlobalNameBytes || n.Length > MaxGlobalNameBytes)
                        throw Fail("STACK_GLOBAL name too long");
                    Push(TorchAllowlist.Resolve(m, n, "STACK_GLOBAL", Where()));
                    break;
                }
                case INST:
                {
                    string module = ReadNameLine("INST module");
                    string name = ReadNameLine("INST name");
                    throw new TorchUnsupportedGlobalException(module + "." + name,
                        $"Unsupported global: INST {module}.{name} ({Where()}); the PyTorch reader does not create class instances.");
                }
                case OBJ: throw Fail("OBJ (class instantiation) is not supported");
                case EXT1:
                case EXT2:
                case EXT4:
                    throw Fail("extension-registry globals (EXT1/EXT2/EXT4) are not supported");
                case REDUCE:
                {
                    var args = Pop();
                    var func = Pop();
                    if (args is not TorchTuple tuple)
                        throw Fail($"REDUCE arguments must be a tuple, got {PythonRepr.TypeName(args)}");
                    Push(Call(func, tuple));
                    break;
                }
                case NEWOBJ:
                {
                    var args = Pop();
                    var cls = Pop();
                    if (args is not TorchTuple tuple)
                        throw Fail($"NEWOBJ arguments must be a tuple, got {PythonRepr.TypeName(args)}");
                    Push(New(cls, tuple));
                    break;
                }
                case NEWOBJ_EX:
                {
                    var kwargs = Pop();
                    var args = Pop();
                    var cls = Pop();
                    if (args is not TorchTuple tuple)
                        throw Fail($"NEWOBJ_EX arguments must be a tuple, got {PythonRepr.TypeName(args)}");
                    if (kwargs is not TorchDict { Count: 0 })
                        throw Fail("NEWOBJ_EX with keyword arguments is not supported");
                    Push(New(cls, tuple));
                    break;
                }
                case BUILD:
                {
                    var state = Pop();
                    Build(Peek(), state);
                    break;
                }
                case BINPERSID:
                    Push(PersistentLoad(Pop()));
                    break;
                case PERSID:
                    throw Fail("text persistent ids (PERSID) are not used by torch.save and are not supported");

                default:
                    throw Fail($"unknown pickle opcode 0x{_op:X2} (the data is corrupt or not a pickle)");
            }
        }
    }

    // ---- stack -------------------------------------------------------------------------------------

    private int MarkBase => _marks.Count == 0 ? 0 : _marks[^1];

    private void Push(object? value) => _stack.Add(value);

    private object? Pop()
    {
        if (_stack.Count <= MarkBase)
            throw Fail("stack underflow");
        var value = _stack[^1];
        _stack.RemoveAt(_stack.Count - 1);
        return value;
    }

    private object? Peek()
    {
        if (_stack.Count <= MarkBase)
            throw Fail("stack underflow");
        return _stack[^1];
    }

    private object?[] PopMark()
    {
        if (_marks.Count == 0)
            throw Fail("no MARK on the stack");
        int start = _marks[^1];
        _meter?.Reserve(16L * (_stack.Count - start), $"{_in.Name}: {_stack.Count - start} items above a MARK (offset {_opOffset})");
        _marks.RemoveAt(_marks.Count - 1);
        var items = _stack.GetRange(start, _stack.Count - start).ToArray();
        _stack.RemoveRange(start, _stack.Count - start);
        return items;
    }

    private TorchList ListTarget() => Peek() as TorchList
        ?? throw Fail($"APPEND/APPENDS on {PythonRepr.TypeName(Peek())}, expected a list");

    private TorchDict DictTarget() => Peek() as TorchDict
        ?? throw Fail($"SETITEM/SETITEMS on {PythonRepr.TypeName(Peek())}, expected a dict");

    private object? MemoGet(long index) =>
        _memo.TryGetValue(index, out var value) ? value : throw Fail($"memo entry {index} was never stored");

    // ---- scalars -----------------------------------------------------------------------------------

    private long ReadLength8()
    {
        ulong n = _in.ReadUInt64();
        if (n > long.MaxValue)
            throw Fail($"length {n} is out of range");
        return (long)n;
    }

    private object DecodeLong(int byteCount)
    {
        if (byteCount > _options.MaxIntegerBytes)
            throw Fail($"integer of {byteCount} bytes exceeds the limit of {_options.MaxIntegerBytes} bytes");
        var bytes = _in.ReadBytes(byteCount, "LONG");
        return NormalizeInteger(new BigInteger(bytes, isUnsigned: false, isBigEndian: false));
    }

    private static object NormalizeInteger(BigInteger value) =>
        value >= long.MinValue && value <= long.MaxValue ? (object)(long)value : value;

    private string ReadAsciiLine(string what, int maxLength) => Encoding.Latin1.GetString(_in.ReadLine(maxLength, what));

    private object ParseIntLine(bool allowBool)
    {
        string text = ReadAsciiLine(allowBool ? "INT" : "LONG", MaxNumberTextBytes).Trim();
        if (allowBool && text == "00")
            return false;
        if (allowBool && text == "01")
            return true;
        if (!allowBool && text.EndsWith('L'))
            text = text[..^1];
        var digits = text.AsSpan(text.Length > 0 && text[0] is '-' or '+' ? 1 : 0);
        if (digits.Length == 0 || digits.ContainsAnyExceptInRange('0', '9'))
            throw Fail($"bad integer text '{Truncate(text)}'");
        return NormalizeInteger(BigInteger.Parse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture));
    }

    private double ParseFloatLine()
    {
        string text = ReadAsciiLine("FLOAT", MaxNumberTextBytes).Trim();
        switch (text.ToLowerInvariant())
        {
            case "inf": case "+inf": case "infinity": return double.PositiveInfinity;
            case "-inf": case "-infinity": return double.NegativeInfinity;
            case "nan": case "+nan": case "-nan": return double.NaN;
        }
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value))
            throw Fail($"bad float text '{Truncate(text)}'");
        return value;
    }

    private long ParseMemoIndex()
    {
        string text = ReadAsciiLine("memo index", 32).Trim();
        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long index))
            throw Fail($"bad memo index '{Truncate(text)}'");
        return index;
    }

    private string ReadNameLine(string what)
    {
        var bytes = _in.ReadLine(MaxGlobalNameBytes, what);
        return Utf8.GetString(bytes);
    }

    /// <summary>Decodes a protocol-0 STRING literal: a quoted Python 2 string with backslash escapes.</summary>
    private byte[] DecodeStringLiteral(byte[] line)
    {
        int len = line.Length;
        while (len > 0 && line[len - 1] == '\r')
            len--;
        if (len < 2 || line[0] != line[len - 1] || (line[0] != '\'' && line[0] != '"'))
            throw Fail("STRING opcode argument must be quoted");
        var result = new List<byte>(len);
        for (int i = 1; i < len - 1; i++)
        {
            byte c = line[i];
            if (c != '\\' || i + 1 >= len - 1)
            {
                result.Add(c);
                continue;
            }
            byte e = line[++i];
            switch (e)
            {
                case (byte)'n': result.Add((byte)'\n'); break;
                case (byte)'r': result.Add((byte)'\r'); break;
                case (byte)'t': result.Add((byte)'\t'); break;
                case (byte)'a': result.Add(7); break;
                case (byte)'b': result.Add(8); break;
                case (byte)'f': result.Add(12); break;
                case (byte)'v': result.Add(11); break;
                case (byte)'\\': case (byte)'\'': case (byte)'"': result.Add(e); break;
                case (byte)'x':
                    if (i + 2 < len - 1 && IsHex(line[i + 1]) && IsHex(line[i + 2]))
                    {
                        result.Add((byte)(HexValue(line[i + 1]) * 16 + HexValue(line[i + 2])));
                        i += 2;
                    }
                    else throw Fail("bad \\x escape in STRING");
                    break;
                case >= (byte)'0' and <= (byte)'7':
                {
                    int v = e - '0';
                    for (int k = 0; k < 2 && i + 1 < len - 1 && line[i + 1] is >= (byte)'0' and <= (byte)'7'; k++)
                        v = v * 8 + (line[++i] - '0');
                    result.Add((byte)v);
                    break;
                }
                default:
                    result.Add((byte)'\\');
                    result.Add(e);
                    break;
            }
        }
        return result.ToArray();
    }

    /// <summary>Decodes Python's raw-unicode-escape (protocol-0 UNICODE): latin-1 text with \uXXXX and \UXXXXXXXX.</summary>
    private string DecodeRawUnicodeEscape(byte[] line)
    {
        var sb = new StringBuilder(line.Length);
        for (int i = 0; i < line.Length; i++)
        {
            if (line[i] == '\\' && i + 1 < line.Length && (line[i + 1] == 'u' || line[i + 1] == 'U'))
            {
                int digits = line[i + 1] == 'u' ? 4 : 8;
                if (i + 2 + digits > line.Length)
                    throw Fail("truncated \\u escape in UNICODE");
                uint value = 0; // at most 8 hex digits: fits in 32 bits unsigned
                for (int k = 0; k < digits; k++)
                {
                    byte h = line[i + 2 + k];
                    if (!IsHex(h))
                        throw Fail($"bad \\{(char)line[i + 1]} escape '{Encoding.Latin1.GetString(line, i, 2 + digits)}' in UNICODE");
                    value = value * 16 + (uint)HexValue(h);
                }
                if (value > 0x10FFFF)
                    throw Fail($"UNICODE escape \\U{value:X8} names code point 0x{value:X}, beyond the largest, 0x10FFFF");
                int cp = (int)value;
                if (cp is >= 0xD800 and <= 0xDFFF)
                    sb.Append((char)cp);
                else
                    sb.Append(char.ConvertFromUtf32(cp));
                i += 1 + digits;
            }
            else
                sb.Append((char)line[i]);
        }
        return sb.ToString();
    }

    private static bool IsHex(byte b) => b is >= (byte)'0' and <= (byte)'9' or >= (byte)'a' and <= (byte)'f' or >= (byte)'A' and <= (byte)'F';

    private static int HexValue(byte b) => b <= '9' ? b - '0' : (b | 0x20) - 'a' + 10;

    private static string Truncate(string s) => s.Length <= 40 ? s : s[..40] + "...";

    // ---- calls -------------------------------------------------------------------------------------

    /// <summary>REDUCE: interprets an allowed callable on its arguments. Nothing is executed.</summary>
    private object? Call(object? func, TorchTuple args)
    {
        if (func is not TorchGlobal g)
            throw Fail($"REDUCE on a {PythonRepr.TypeName(func)}, which is not callable");
        switch (g.FullName)
        {
            case TorchAllowlist.OrderedDict:
            case TorchAllowlist.Counter:
                return MakeDict(g.FullName, args);
            case TorchAllowlist.Set:
            case TorchAllowlist.FrozenSet:
                return MakeSet(g.FullName == TorchAllowlist.FrozenSet, args);
            case TorchAllowlist.ByteArray:
                return MakeByteArray(args);
            case TorchAllowlist.CodecsEncode:
                return Encode(args);
            case TorchAllowlist.Complex:
                return MakeComplex(args);
            case TorchAllowlist.Size:
                return MakeSize(args);
            case TorchAllowlist.Device:
                return MakeDevice(args);
            case TorchAllowlist.Parameter:
                return MakeParameter(args);
            case TorchAllowlist.RebuildTensor:
                Arity(args, 4, 4, g);
                return RebuildTensor(args, hasFlags: false, dtypeIndex: -1);
            case TorchAllowlist.RebuildTensorV2:
                Arity(args, 6, 7, g);
                return RebuildTensor(args, hasFlags: true, dtypeIndex: -1);
            case TorchAllowlist.RebuildTensorV3:
                Arity(args, 7, 8, g);
                return RebuildTensor(args, hasFlags: true, dtypeIndex: 6);
            case TorchAllowlist.RebuildParameter:
                Arity(args, 3, 3, g);
                return TensorArg(args, 0, g).WithFlags(BoolArg(args, 1, g), isParameter: true);
            case TorchAllowlist.RebuildParameterWithState:
                Arity(args, 4, 4, g);
                return TensorArg(args, 0, g).WithFlags(BoolArg(args, 1, g), isParameter: true);
            case TorchAllowlist.RebuildFromTypeV2:
                return RebuildFromType(args, g);
            default:
                throw Fail($"{g.FullName} cannot be called here");
        }
    }

    /// <summary>NEWOBJ: <c>cls.__new__(cls, *args)</c> for the allowed classes that are plain data.</summary>
    private object? New(object? cls, TorchTuple args)
    {
        if (cls is TorchGlobal g && g.FullName is TorchAllowlist.OrderedDict or TorchAllowlist.Counter or TorchAllowlist.Set
                or TorchAllowlist.FrozenSet or TorchAllowlist.ByteArray or TorchAllowlist.Complex or TorchAllowlist.Size
                or TorchAllowlist.Device or TorchAllowlist.Parameter)
            return Call(g, args);
        throw Fail($"NEWOBJ for {PythonRepr.Format(cls)} is not supported");
    }

    private void Build(object? instance, object? state)
    {
        if (instance is not TorchDict dict)
            throw Fail($"BUILD on a {PythonRepr.TypeName(instance)} is not supported (only OrderedDict attributes are restored)");
        if (!_built.Add(dict))
            throw Fail("BUILD applied twice to the same object");
        TorchDict? attributes = state switch
        {
            null => null,
            TorchDict d => d,
            TorchTuple { Count: 2 } t when t[1] is null && t[0] is TorchDict or null => (TorchDict?)t[0],
            TorchTuple { Count: 2 } t when t[0] is null && t[1] is TorchDict => (TorchDict?)t[1],
            _ => throw Fail($"BUILD state must be a dict, got {PythonRepr.TypeName(state)}"),
        };
        if (attributes is not null)
        {
            foreach (var key in attributes.Keys)
                if (key is not string)
                    throw Fail($"attribute name must be a str, got {PythonRepr.TypeName(key)}");
            dict.SetAttributes(attributes);
        }
    }

    private object PersistentLoad(object? pid)
    {
        if (_persistentLoad is null)
            throw Fail("persistent id in a pickle that cannot reference storages");
        if (pid is not TorchTuple tuple)
            throw Fail($"persistent id must be a tuple, got {PythonRepr.TypeName(pid)}");
        return _persistentLoad(tuple);
    }

    private TorchDict MakeDict(string pythonType, TorchTuple args)
    {
        var dict = new TorchDict(pythonType);
        if (args.Count == 0)
            return dict;
        if (args.Count != 1)
            throw Fail($"{pythonType} takes at most 1 argument, got {args.Count}");
        switch (args[0])
        {
            case TorchDict source:
                foreach (var kv in source)
                    dict.Set(kv.Key, kv.Value);
                break;
            case IReadOnlyList<object?> pairs:
                foreach (var pair in pairs)
                {
                    if (pair is not IReadOnlyList<object?> { Count: 2 } kv || pair is TorchDict)
                        throw Fail($"{pythonType} items must be (key, value) pairs");
                    dict.Set(kv[0], kv[1]);
                }
                break;
            default:
                throw Fail($"{pythonType} argument must be a dict or a list of pairs, got {PythonRepr.TypeName(args[0])}");
        }
        return dict;
    }

    private TorchSet MakeSet(bool frozen, TorchTuple args)
    {
        var set = new TorchSet(frozen);
        if (args.Count == 0)
            return set;
        if (args.Count != 1 || args[0] is not IEnumerable<object?> items || args[0] is TorchDict)
            throw Fail("set/frozenset takes one list, tuple or set");
        foreach (var item in items)
            set.Add(item);
        return set;
    }

    private byte[] MakeByteArray(TorchTuple args)
    {
        if (args.Count == 0)
            return Array.Empty<byte>();
        if (args.Count == 1 && args[0] is byte[] bytes)
            return bytes;
        return Encode(args);
    }

    /// <summary><c>_codecs.encode(str, 'latin1')</c>: how Python 3 pickles bytes at protocol 2.</summary>
    private byte[] Encode(TorchTuple args)
    {
        if (args.Count != 2 || args[0] is not string text || args[1] is not string encoding)
            throw Fail("encode takes (str, encoding)");
        switch (encoding.ToLowerInvariant())
        {
            case "latin1": case "latin-1": case "iso-8859-1": case "iso8859-1":
                var result = new byte[text.Length];
                for (int i = 0; i < text.Length; i++)
                {
                    if (text[i] > 0xFF)
                        throw Fail("latin-1 text with a character above U+00FF");
                    result[i] = (byte)text[i];
                }
                return result;
            case "utf-8": case "utf8":
                return Utf8.GetBytes(text);
            default:
                throw Fail($"unsupported encoding '{Truncate(encoding)}'");
        }
    }

    private Complex MakeComplex(TorchTuple args)
    {
        double Part(int i) => args.Count <= i ? 0 : args[i] switch
        {
            double d => d,
            long l => l,
            bool b => b ? 1 : 0,
            _ => throw Fail("complex takes numbers"),
        };
        if (args.Count > 2)
            throw Fail("complex takes at most 2 arguments");
        return new Complex(Part(0), Part(1));
    }

    private TorchTuple MakeSize(TorchTuple args)
    {
        if (args.Count == 0)
            return new TorchTuple(Array.Empty<object?>(), isTorchSize: true);
        if (args.Count != 1 || args[0] is not IReadOnlyList<object?> dims || args[0] is TorchDict)
            throw Fail("torch.Size takes one sequence of ints");
        var items = new object?[dims.Count];
        for (int i = 0; i < items.Length; i++)
            items[i] = dims[i] is long ? dims[i] : throw Fail("torch.Size takes ints");
        return new TorchTuple(items, isTorchSize: true);
    }

    private TorchDevice MakeDevice(TorchTuple args)
    {
        if (args.Count is < 1 or > 2 || args[0] is not string spec || spec.Length > 64)
            throw Fail("torch.device takes (type[, index])");
        long? index = null;
        if (args.Count == 2)
            index = args[1] is long l && l >= 0 ? l : args[1] is null ? null : throw Fail("torch.device index must be a non-negative int");
        int colon = spec.IndexOf(':');
        if (colon >= 0)
        {
            if (index is not null || !long.TryParse(spec.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out long parsed))
                throw Fail($"bad device '{spec}'");
            return new TorchDevice(spec[..colon], parsed);
        }
        return new TorchDevice(spec, index);
    }

    private TorchTensor MakeParameter(TorchTuple args)
    {
        var g = new TorchGlobal("torch.nn.parameter", "Parameter");
        Arity(args, 1, 2, g);
        bool requiresGrad = args.Count < 2 || BoolArg(args, 1, g);
        return TensorArg(args, 0, g).WithFlags(requiresGrad, isParameter: true);
    }

    /// <summary>
    /// <c>_rebuild_tensor(storage, offset, size, stride)</c>,
    /// <c>_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks[, metadata])</c> and
    /// <c>_rebuild_tensor_v3(..., backward_hooks, dtype[, metadata])</c>. Hooks and metadata are ignored.
    /// </summary>
    private TorchTensor RebuildTensor(TorchTuple args, bool hasFlags, int dtypeIndex)
    {
        var g = new TorchGlobal("torch._utils", "_rebuild_tensor");
        if (args[0] is not TorchStorage storage)
            throw Fail($"tensor storage must come from a persistent id, got {PythonRepr.TypeName(args[0])}");
        long offset = LongArg(args, 1, "storage_offset");
        long[] shape = LongsArg(args, 2, "size");
        long[] strides = LongsArg(args, 3, "stride");
        bool requiresGrad = hasFlags && BoolArg(args, 4, g);
        TorchDType dtype = storage.DType;
        if (dtypeIndex >= 0)
            dtype = args[dtypeIndex] is TorchDType d ? d : throw Fail($"_rebuild_tensor_v3 dtype must be a torch dtype, got {PythonRepr.TypeName(args[dtypeIndex])}");
        return TorchTensor.Create(dtype, shape, strides, offset, storage, requiresGrad, isParameter: false, _options);
    }

    /// <summary><c>_rebuild_from_type_v2(func, new_type, args, state)</c>: a tensor (or Parameter) with extra Python state, which is dropped.</summary>
    private TorchTensor RebuildFromType(TorchTuple args, TorchGlobal g)
    {
        Arity(args, 4, 4, g);
        if (args[0] is not TorchGlobal func || !TorchAllowlist.IsTensorRebuildFunction(func.FullName))
            throw Fail($"_rebuild_from_type_v2 must wrap a tensor rebuild function, got {PythonRepr.Format(args[0])}");
        if (args[2] is not TorchTuple innerArgs)
            throw Fail("_rebuild_from_type_v2 arguments must be a tuple");
        if (Call(func, innerArgs) is not TorchTensor tensor)
            throw Fail("_rebuild_from_type_v2 did not produce a tensor");
        return args[1] switch
        {
            TorchGlobal { FullName: TorchAllowlist.Tensor } => tensor,
            TorchGlobal { FullName: TorchAllowlist.Parameter } => tensor.WithFlags(tensor.RequiresGrad, isParameter: true),
            _ => throw Fail($"_rebuild_from_type_v2 to {PythonRepr.Format(args[1])} is not supported (tensor subclasses are refused)"),
        };
    }

    private void Arity(TorchTuple args, int min, int max, TorchGlobal g)
    {
        if (args.Count < min || args.Count > max)
            throw Fail($"{g.FullName} takes {(min == max ? min.ToString(CultureInfo.InvariantCulture) : $"{min} to {max}")} arguments, got {args.Count}");
    }

    private TorchTensor TensorArg(TorchTuple args, int i, TorchGlobal g) =>
        args[i] as TorchTensor ?? throw Fail($"{g.FullName} argument {i} must be a tensor, got {PythonRepr.TypeName(args[i])}");

    private bool BoolArg(TorchTuple args, int i, TorchGlobal g) => args[i] switch
    {
        bool b => b,
        long l when l is 0 or 1 => l == 1,
        _ => throw Fail($"{g.FullName} argument {i} must be a bool, got {PythonRepr.TypeName(args[i])}"),
    };

    private long LongArg(TorchTuple args, int i, string what) =>
        args[i] is long l ? l : throw Fail($"tensor {what} must be an int in 64-bit range, got {PythonRepr.Format(args[i])}");

    private long[] LongsArg(TorchTuple args, int i, string what)
    {
        if (args[i] is not IReadOnlyList<object?> items || args[i] is TorchDict)
            throw Fail($"tensor {what} must be a tuple of ints, got {PythonRepr.TypeName(args[i])}");
        if (items.Count > TorchTensor.MaxRank)
            throw Fail($"tensor {what} has {items.Count} dimensions, more than the limit of {TorchTensor.MaxRank}");
        var result = new long[items.Count];
        for (int k = 0; k < result.Length; k++)
            result[k] = items[k] is long l ? l : throw Fail($"tensor {what} must hold ints in 64-bit range, got {PythonRepr.Format(items[k])}");
        return result;
    }

    // ---- errors ------------------------------------------------------------------------------------

    private string Where() => $"{_in.Name}, offset {_opOffset}";

    private TorchFormatException Fail(string message) =>
        new($"{_in.Name}: {message} (pickle opcode 0x{_op:X2} at offset {_opOffset}).");
}
