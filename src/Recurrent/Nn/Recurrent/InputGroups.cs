// A recurrent stack fed straight from an embedding: its input rows are table rows looked up by id, so
// rows of one id are equal. The first layer then works per id instead of per row (DECISIONS 33):
//   forward   x W_ih^T is computed once per distinct id (U rows instead of N), and each row's step reads its id's;
//   backward  the gate gradients dG of each id's rows are summed as the steps produce them (S, U rows; GRU: the
//             blocks that meet x);
//             dW_ih = S^T x_u (U rows instead of N), and, when the embedding output has no other use of its
//             own gradient, the table's gradient comes straight from S W_ih (U rows instead of N): the
//             node's first edge is the embedding's weight, not the looked-up rows, and the embedding's own
//             node only sees gradients from the output's other uses, which AccumulateGrad adds to ours. A hook
//             registered on the output after the forward ends that (EmbeddingLookup.StopRouting): the hook must see
//             the whole gradient, so the stack hands its rows to the output's node as an ungrouped stack does, on
//             a last edge to x that a routed node always has (it carries nothing while routed), so that the
//             engine's dependency counts stay right even when the hook is registered during a backward.
// padding_idx and scale_grad_by_freq apply to the per-id gradient as EmbeddingBackward0 applies them
// per row. Only the grouping (which rows share an id) comes from the lookup: the runner checks that the
// rows of each group are bitwise equal before it groups them, so an output changed in place after the
// lookup runs the ordinary way.
using System.Buffers;
using System.Numerics;
using System.Runtime.InteropServices;
using Recurrent.Autograd;
using Recurrent.Kernels;

namespace Recurrent.Nn;

/// <summary>What an embedding output was gathered from (set by <see cref="Functional.Embedding"/> on its result).</summary>
internal sealed class EmbeddingLookup
{
    private readonly Tensor _ids;

    /// <summary>A lookup of <paramref name="ids"/> (the lookup's own int64 copy, in the input's element order) into a table of <paramref name="numEmbeddings"/> rows.</summary>
    public EmbeddingLookup(Tensor ids, int numEmbeddings, int paddingIdx, bool scaleGradByFreq)
    {
        _ids = ids;
        NumEmbeddings = numEmbeddings;
        PaddingIdx = paddingIdx;
        ScaleGradByFreq = scaleGradByFreq;
    }

    /// <summary>The ids, or empty once their pooled storage went back with its dispose scope.</summary>
    public ReadOnlySpan<long> Ids => _ids.IsDisposed ? default : _ids.AsSpan<long>();
    public long Count => _ids.Numel;
    public int NumEmbeddings { get; }
    /// <summary>The padding row (normalised), or -1.</summary>
    public int PaddingIdx { get; }
    public bool ScaleGradByFreq { get; }
    /// <summary>The output's EmbeddingBackward0 node, or null when none was recorded.</summary>
    public Node? Node { get; set; }

    // The recorded stacks that send their share of the output's gradient straight to the table: usually one, kept
    // without allocating (a lookup is made every step).
    private IRoutesAroundLookup? _routed;
    private List<IRoutesAroundLookup>? _moreRouted;

    /// <summary>Records a stack whose backward sends its gradient to the table, past the output.</summary>
    public void AddRouted(IRoutesAroundLookup stack)
    {
        if (Interlocked.CompareExchange(ref _routed, stack, null) is null) return;
        var more = Volatile.Read(ref _moreRouted) ?? Interlocked.CompareExchange(ref _moreRouted, [], null) ?? _moreRouted!;
        lock (more) more.Add(stack);
    }

    /// <summary>Forgets a stack whose backward is done (its node released), so that a long-lived output does not keep
    /// the graphs of every stack that ever read it.</summary>
    public void RemoveRouted(IRoutesAroundLookup stack)
    {
        if (ReferenceEquals(Interlocked.CompareExchange(ref _routed, null, stack), stack)) return;
        if (Volatile.Read(ref _moreRouted) is { } more) lock (more) more.Remove(stack);
    }

    /// <summary>Makes every stack that read the output hand its gradient to the output instead (a hook was registered
    /// on it after they ran).</summary>
    public void StopRouting()
    {
        Interlocked.Exchange(ref _routed, null)?.StopRouting();
        if (Volatile.Read(ref _moreRouted) is not { } more) return;
        IRoutesAroundLookup[] all;
        lock (more)
        {
            all = [.. more];
            more.Clear();
        }
        foreach (var stack in all) stack.StopRouting();
    }
}

/// <summary>A backward node that sends an embedding output's gradient to the table past the output (see the file header).</summary>
internal interface IRoutesAroundLookup
{
    /// <summary>From now on hands the gradient to the output's own node (on its last edge, x's, instead of the table's).</summary>
    void StopRouting();
}

/// <summary>
/// A stack input's rows in groups of one id each (see the file header). Its arrays come from the shared pool;
/// <see cref="Return"/> gives them back once the forward (inference) or the backward node is done with them.
/// </summary>
internal sealed class InputGroups
{
    private int[]? _rowGroup, _firstRow;
    private long[]? _ids;
    private readonly int _rows;

    private readonly int[] _inputShape;
    private readonly bool _batchFirst;
    private readonly int _steps, _batch;

    private InputGroups(int[] rowGroup, int rows, int[] firstRow, long[] ids, int count, EmbeddingLookup lookup, bool routeToTable,
        int[] inputShape, bool batchFirst, int steps, int batch)
    {
        _inputShape = inputShape;
        _batchFirst = batchFirst;
        _steps = steps;
        _batch = batch;
        _rowGroup = rowGroup;
        _rows = rows;
        _firstRow = firstRow;
        _ids = ids;
        Count = count;
        Lookup = lookup;
        RouteToTable = routeToTable;
    }

    /// <summary>(N) each stack row's group.</summary>
    public ReadOnlySpan<int> RowGroup => _rowGroup.AsSpan(0, _rows);
    /// <summary>(U) the first row of each group.</summary>
    public ReadOnlySpan<int> FirstRow => _firstRow.AsSpan(0, Count);
    /// <summary>(U) each group's id.</summary>
    public ReadOnlySpan<long> Ids => _ids.AsSpan(0, Count);
    public EmbeddingLookup Lookup { get; }
    /// <summary>Whether the input's gradient goes to the table as per-id sums (the node's first edge is the table's).</summary>
    public bool RouteToTable { get; }
    /// <summary>U, the number of groups.</summary>
    public int Count { get; }

    /// <summary>Rows per distinct id, at least, for grouping to pay (U rows multiplied instead of N).</summary>
    private const int MinRowsPerGroup = 2;

    /// <summary>
    /// The groups of a dense stack input (T, B, I), (B, T, I) with <paramref name="batchFirst"/>, or (T, I), whose
    /// time-major rows are t * B + b; null when <paramref name="input"/> is not an embedding output the stack can group.
    /// </summary>
    public static InputGroups? TryCreate(Tensor input, bool batchFirst, int steps, int batch)
    {
        if (input.Lookup is not { } lookup) return null;
        long n = (long)steps * batch;
        if (lookup.Count != n || n < 2 * MinRowsPerGroup) return null;
        // The gradient goes to the table only when it would reach it through the lookup alone: the output is the
        // lookup's own (not changed in place by a recorded op since, not retaining its gradient, no hook on it; a hook
        // registered after this forward stops the routing, EmbeddingLookup.StopRouting).
        bool route = false;
        if (input.RequiresGrad)
        {
            if (lookup.Node is null || !ReferenceEquals(input.GradFn, lookup.Node) || input.RetainsGrad || input.HasGradHooks) return null;
            route = true;
        }
        var all = lookup.Ids;
        if (all.Length != n) return null;
        int rows = (int)n, maxGroups = rows / MinRowsPerGroup, num = lookup.NumEmbeddings;
        var pool = ArrayPool<int>.Shared;
        int[] rowGroup = pool.Rent(rows), firstRow = pool.Rent(maxGroups);
        long[] ids = ArrayPool<long>.Shared.Rent(maxGroups);
        // id -> group: a table over the ids when it is no larger than a few times the rows, else a dictionary.
        int[]? map = num <= 4 * rows ? pool.Rent(num) : null;
        map?.AsSpan(0, num).Fill(-1);
        Dictionary<long, int>? dict = map is null ? new Dictionary<long, int>() : null;
        int count = 0;
        bool ok = true;
        for (int t = 0; t < steps && ok; t++)
            for (int b = 0; b < batch; b++)
            {
                int r = t * batch + b;
                long id = all[batchFirst ? b * steps + t : r];
                int g = map is not null ? map[id] : dict!.TryGetValue(id, out int found) ? found : -1;
                if (g < 0)
                {
                    if (count == maxGroups) { ok = false; break; }
                    g = count++;
                    if (map is not null) map[id] = g;
                    else dict!.Add(id, g);
                    firstRow[g] = r;
                    ids[g] = id;
                }
                rowGroup[r] = g;
            }
        if (map is not null) pool.Return(map);
        var groups = new InputGroups(rowGroup, rows, firstRow, ids, count, lookup, route, input.ShapeRef, batchFirst, steps, batch);
        if (ok) return groups;
        groups.Return();
        return null;
    }

    /// <summary>Gives the arrays back to the pool (once; the groups are not used after).</summary>
    public void Return()
    {
        if (_rowGroup is not null) ArrayPool<int>.Shared.Return(_rowGroup);
        if (_firstRow is not null) ArrayPool<int>.Shared.Return(_firstRow);
        if (_ids is not null) ArrayPool<long>.Shared.Return(_ids);
        _rowGroup = _firstRow = null;
        _ids = null;
    }

    /// <summary>Whether every row of <paramref name="x"/> (N, I) is bitwise equal to its group's first row.</summary>
    public bool RowsMatch<T>(ReadOnlySpan<T> x, int width) where T : unmanaged
    {
        var rowGroup = RowGroup;
        var firstRow = FirstRow;
        for (int r = 0; r < rowGroup.Length; r++)
        {
            int f = firstRow[rowGroup[r]];
            if (f != r && !MemoryMarshal.AsBytes(x.Slice(r * width, width)).SequenceEqual(MemoryMarshal.AsBytes(x.Slice(f * width, width))))
                return false;
        }
        return true;
    }

    /// <summary>A gradient of the stack's time-major rows (N, I) laid out as the embedding output the rows came from.</summary>
    public Tensor InInputLayout(Tensor rows)
    {
        int width = rows.Size(1);
        var t = rows.View(_steps, _batch, width);
        if (_batchFirst) t = t.Transpose(0, 1).Contiguous();
        return t.Reshape(_inputShape);
    }

    /// <summary>(U, I) one row of each group.</summary>
    public void GatherRows<T>(ReadOnlySpan<T> x, int width, Span<T> xu) where T : unmanaged
    {
        var firstRow = FirstRow;
        for (int u = 0; u < firstRow.Length; u++) x.Slice(firstRow[u] * width, width).CopyTo(xu.Slice(u * width, width));
    }

    /// <summary>
    /// The table's gradient (num_embeddings, I) from each group's summed input gradient <paramref name="du"/> (U, I):
    /// row id = its group's, except padding_idx (zero), divided by the id's count with scale_grad_by_freq.
    /// </summary>
    public Tensor TableGrad<T>(ReadOnlySpan<T> du, int width, DType dtype) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var lk = Lookup;
        var grad = Tensor.NewZeroed(dtype, [lk.NumEmbeddings, width]);
        var g = grad.AsSpan<T>();
        var ids = Ids;
        int[]? counts = null;
        if (lk.ScaleGradByFreq)
        {
            counts = new int[Count];
            foreach (int r in RowGroup) counts[r]++;
        }
        for (int u = 0; u < Count; u++)
        {
            long id = ids[u];
            if (id == lk.PaddingIdx) continue;
            var src = du.Slice(u * width, width);
            var dst = g.Slice((int)id * width, width);
            if (counts is null) src.CopyTo(dst);
            else
            {
                T c = T.CreateTruncating(counts[u]);
                for (int j = 0; j < width; j++) dst[j] = src[j] / c;
            }
        }
        return grad;
    }
}
