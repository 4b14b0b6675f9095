// nn.Embedding: a lookup table of rows indexed by int64 ids, with padding_idx, max_norm and
// scale_grad_by_freq as in PyTorch.
namespace Recurrent.Nn;

/// <summary>
/// A table of <c>num_embeddings</c> vectors of size <c>embedding_dim</c>, looked up by int64 ids of any shape,
/// as <c>nn.Embedding</c>. Parameter <c>weight</c> (num_embeddings, embedding_dim), initialised N(0, 1) with the
/// <see cref="PaddingIdx"/> row zeroed; that row never receives a gradient.
/// </summary>
public sealed class Embedding : Module<Tensor, Tensor>
{
    /// <summary>
    /// Creates the table. A negative <paramref name="paddingIdx"/> counts from the end (stored normalised, as PyTorch).
    /// <paramref name="sparse"/> gradients are not supported and raise.
    /// </summary>
    public Embedding(int numEmbeddings, int embeddingDim, int? paddingIdx = null, double? maxNorm = null, double normType = 2.0,
        bool scaleGradByFreq = false, bool sparse = false, DType dtype = DType.Float32, Generator? generator = null)
        : this(numEmbeddings, embeddingDim, paddingIdx, maxNorm, normType, scaleGradByFreq, sparse, null, dtype, generator) { }

    private Embedding(int numEmbeddings, int embeddingDim, int? paddingIdx, double? maxNorm, double normType,
        bool scaleGradByFreq, bool sparse, Tensor? weight, DType dtype, Generator? generator)
    {
        Guard.NonNegative(numEmbeddings, nameof(numEmbeddings));
        Guard.NonNegative(embeddingDim, nameof(embeddingDim));
        if (dtype == DType.Int64) throw new ArgumentException("Embedding: dtype must be floating point (Float32 or Float64), but got torch.int64", nameof(dtype));
        if (sparse) throw new NotSupportedException("Embedding: sparse gradients are not supported (sparse=True); use sparse: false");
        NumEmbeddings = numEmbeddings;
        EmbeddingDim = embeddingDim;
        int pad = Functional.NormalizePaddingIdx(paddingIdx, numEmbeddings);
        PaddingIdx = pad >= 0 ? pad : null;
        MaxNorm = maxNorm;
        NormType = normType;
        ScaleGradByFreq = scaleGradByFreq;
        if (weight is null)
        {
            weight = Tensor.Randn([numEmbeddings, embeddingDim], dtype, generator);
            if (PaddingIdx is { } p) using (new NoGrad()) weight.Select(0, p).Zero_();
        }
        RegisterParameter("weight", weight);
    }

    /// <summary>
    /// A table holding <paramref name="embeddings"/>, as <c>nn.Embedding.from_pretrained</c>; frozen (no gradient)
    /// unless <paramref name="freeze"/> is false. The padding row is not zeroed. As in PyTorch the table shares the
    /// tensor's storage (no copy of a large pretrained matrix): training, or renormalising rows with
    /// <paramref name="maxNorm"/>, changes the caller's tensor too; pass <c>embeddings.Clone()</c> to keep it apart.
    /// A non-contiguous tensor is copied.
    /// </summary>
    public static Embedding FromPretrained(Tensor embeddings, bool freeze = true, int? paddingIdx = null, double? maxNorm = null,
        double normType = 2.0, bool scaleGradByFreq = false)
    {
        Guard.NotNull(embeddings, nameof(embeddings));
        if (embeddings.Dim != 2) throw new ArgumentException($"Embeddings parameter is expected to be 2-dimensional, but got shape {Guard.ShapeText(embeddings.ShapeRef)}", nameof(embeddings));
        Guard.Floating(embeddings, nameof(embeddings));
        var w = embeddings.IsContiguous ? embeddings.Detach() : embeddings.Detach().Contiguous();
        var e = new Embedding(embeddings.Size(0), embeddings.Size(1), paddingIdx, maxNorm, normType, scaleGradByFreq, false, w, embeddings.DType, null);
        e.Weight.RequiresGrad = !freeze;
        return e;
    }

    /// <summary>Number of rows.</summary>
    public int NumEmbeddings { get; }
    /// <summary>Size of each row.</summary>
    public int EmbeddingDim { get; }
    /// <summary>The row that gets no gradient (normalised to be non-negative), or null.</summary>
    public int? PaddingIdx { get; }
    /// <summary>Rows looked up with a larger <see cref="NormType"/>-norm are renormalised to this norm in place.</summary>
    public double? MaxNorm { get; }
    /// <summary>The p of the norm used with <see cref="MaxNorm"/>.</summary>
    public double NormType { get; }
    /// <summary>Whether row gradients are divided by the id's frequency in the batch.</summary>
    public bool ScaleGradByFreq { get; }

    /// <summary>
    /// The table, (num_embeddings, embedding_dim). Setting it makes the given tensor itself the table, as PyTorch's
    /// <c>embedding.weight = other.weight</c> (weight tying); it must be a leaf tensor of this shape and dtype that is
    /// all of its storage. Another module's parameter keeps its <see cref="Tensor.RequiresGrad"/>; any other tensor
    /// becomes trainable, as <c>nn.Parameter(t)</c>.
    /// </summary>
    /// <exception cref="ArgumentNullException">Set to null.</exception>
    /// <exception cref="ArgumentException">Set to a non-leaf tensor, a view of a larger storage, or one of another shape or dtype.</exception>
    public Tensor Weight
    {
        get => Param("weight")!;
        set => AssignParameter("weight", value, "Embedding.Weight");
    }

    /// <inheritdoc/>
    public override string TypeName => "Embedding";

    /// <summary>int64 ids (*) -> (*, embedding_dim).</summary>
    public override Tensor Forward(Tensor input) =>
        Functional.Embedding(input, Weight, PaddingIdx, MaxNorm, NormType, ScaleGradByFreq);

    /// <inheritdoc/>
    public override string ExtraRepr()
    {
        var s = $"{NumEmbeddings}, {EmbeddingDim}";
        if (PaddingIdx is { } p) s += $", padding_idx={p}";
        if (MaxNorm is { } m) s += $", max_norm={PyFormat.Float(m)}";
        if (NormType != 2) s += $", norm_type={PyFormat.Float(NormType)}";
        if (ScaleGradByFreq) s += ", scale_grad_by_freq=True";
        return s;
    }
}
